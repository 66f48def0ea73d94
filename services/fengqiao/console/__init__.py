"""The console (`fengqiao console`): the governance centre's live four-colour board and
the policy staff's playground, in the browser. A client of the three services' gRPC APIs
and of the bus; pages rendered on the server, in Chinese.

- `service.py` wires it (gRPC channels, users, uvicorn in the service's loop);
- `app.py` the routes and sessions; `auth.py`, `signin.py`, `oidc.py` who may do what;
- `board.py` the board, a dispute's timeline and 签收; `live.py` the live feed (SSE);
- `playground/` the policy playground.

Nothing is imported here: the services' processes import `fengqiao.console.users` (the
demo's users) without the web stack; `fengqiao.console.service.ConsoleApp` starts it."""
