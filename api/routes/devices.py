"""``/v1/me/devices``: the phones (and browsers) a user's push notifications go to."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from api.auth import Caller
from api.dependencies import DeviceList
from api.problems import ApiProblem
from application.devices import DEVICE_TOKEN_SHAPE, Device, party_of

router = APIRouter(prefix="/v1/me/devices", tags=["devices"])
DeviceToken = Annotated[
    str,
    Path(
        description="the app's FCM registration token",
        min_length=16,
        max_length=1024,  # a longer path is refused by the server itself (431)
        pattern=DEVICE_TOKEN_SHAPE,
    ),
]


class DeviceOut(BaseModel):
    token: str
    registered_at: datetime


class DevicesOut(BaseModel):
    items: list[DeviceOut]


def device_out(device: Device) -> dict[str, Any]:
    return {
        "token": device.token,
        "registered_at": datetime.fromtimestamp(device.registered_at, UTC),
    }


@router.get("", response_model=DevicesOut)
def my_devices(caller: Caller, devices: DeviceList) -> Any:
    """The caller's devices, most recently registered first."""
    party = party_of(caller.role, caller.subject)
    return {"items": [device_out(device) for device in devices.devices(party)]}


@router.put(
    "/{token}",
    response_model=DeviceOut,
    status_code=200,
    responses={201: {"model": DeviceOut, "description": "registered, new to the caller"}},
)
def register_device(
    token: DeviceToken, caller: Caller, devices: DeviceList, response: Response
) -> Any:
    """Push notifications for the caller go to this device: 201 when it is new to them, 200
    when it was theirs already (registering again is harmless, and apps should do it whenever
    FCM hands them a new token). A token another account held moves to the caller; past
    ``TIFFIN_PUSH_MAX_DEVICES`` the caller's least recently registered device is dropped."""
    now = datetime.now(UTC).timestamp()
    device, new = devices.register(party_of(caller.role, caller.subject), token, now)
    response.status_code = 201 if new else 200
    return device_out(device)


@router.delete("/{token}", status_code=204)
def unregister_device(token: DeviceToken, caller: Caller, devices: DeviceList) -> Response:
    """No more notifications to this device (on sign-out): 404 unless the caller holds it."""
    if not devices.remove(token, party_of(caller.role, caller.subject)):
        raise ApiProblem(404, "no such device is registered for you")
    return Response(status_code=204)
