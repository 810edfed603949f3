"""Domain errors. They name the rule that was broken and carry no transport codes."""


class DomainError(Exception):
    """A command was refused by the domain model; nothing was changed."""


class InvalidCommand(DomainError):
    """The command's input breaks a rule whatever the aggregate's state."""


class StateConflict(DomainError):
    """The command is not allowed in the aggregate's current state."""


class InvalidMoney(InvalidCommand):
    pass


class CurrencyMismatch(InvalidCommand):
    pass


class InvalidLocation(InvalidCommand):
    pass


class InvalidPrice(InvalidCommand):
    pass


class InvalidQuantity(InvalidCommand):
    pass


class EmptyOrder(InvalidCommand):
    pass


class UnknownMenuItem(InvalidCommand):
    pass


class MenuItemUnavailable(InvalidCommand):
    pass


class RestaurantOffline(InvalidCommand):
    pass


class InvalidStars(InvalidCommand):
    pass


class InvalidPrepMinutes(InvalidCommand):
    pass


class InvalidVehicleType(InvalidCommand):
    pass


class InvalidText(InvalidCommand):
    pass


class AmountMismatch(InvalidCommand):
    pass


class RefundExceedsCapture(InvalidCommand):
    pass


class IllegalTransition(StateConflict):
    """A lifecycle step that the aggregate's current status does not allow."""

    def __init__(self, aggregate: str, action: str, status: str) -> None:
        super().__init__(f"cannot {action} the {aggregate}: it is {status}")
        self.aggregate = aggregate
        self.action = action
        self.status = status


class OrderNotCancellable(StateConflict):
    pass


class OrderClosed(StateConflict):
    """The order was cancelled or rejected: its delivery may not go on."""


class AlreadyRated(StateConflict):
    pass


class RefundAlreadyRequested(StateConflict):
    pass


class CourierBusy(StateConflict):
    pass


class CourierOffShift(StateConflict):
    pass
