"""The HTTP edge: the FastAPI app (routes, schemas, middleware, problems, auth, live updates)
and the Hypercorn server that serves it."""
