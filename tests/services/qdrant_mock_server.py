"""A mock Qdrant REST server for tests: no Qdrant server binary runs on these machines.

It speaks the part of Qdrant's REST API that `QdrantClient(url=...)` uses for the calls in
ml_controller/vectors/client_backend.py, parses request bodies with qdrant-client's own REST
models, and answers in Qdrant's envelope. Storage, filtering and scoring are qdrant-client's local
mode on disk (`QdrantClient(path=...)`), so a server killed and started again keeps its points.
Local mode keeps no payload indexes; the mock records the ones created, so `get_collection`
shows them in `payload_schema` as a server does.

It runs as its own process (`python -m tests.services.qdrant_mock_server --path P --port N`) so a
test can SIGKILL it. Between runs the parent holds the port bound but not listening
(SO_REUSEPORT): clients get "connection refused", as from a Qdrant that is down, and no other
test can take the port.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter, ValidationError
from qdrant_client import QdrantClient
from qdrant_client.http import models

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0
_MODULE = "tests.services.qdrant_mock_server"

# ---- the server (runs in the child process) -------------------------------------------------


def build_app(path: Path) -> Any:
    """The FastAPI app over a local-mode store in `path`."""
    path.mkdir(parents=True, exist_ok=True)
    store = QdrantClient(path=str(path / "local"))
    indexes_file = path / "payload_indexes.json"
    # {collection: {field: schema}}: what create_payload_index asked for (local mode drops it).
    indexes: dict[str, dict[str, str]] = (
        json.loads(indexes_file.read_text()) if indexes_file.exists() else {}
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()  # a clean exit (SIGINT); SIGKILL leaves what SQLite had committed

    app = FastAPI(title="qdrant mock", lifespan=lifespan)

    def save_indexes() -> None:
        tmp = indexes_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(indexes))
        tmp.replace(indexes_file)

    def envelope(result: Any, began: float) -> JSONResponse:
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        elif isinstance(result, list):
            result = [r.model_dump(mode="json") if isinstance(r, BaseModel) else r for r in result]
        return JSONResponse({"result": result, "status": "ok", "time": time.perf_counter() - began})

    def error(status_code: int, message: str, began: float) -> JSONResponse:
        return JSONResponse(
            {"status": {"error": message}, "time": time.perf_counter() - began},
            status_code=status_code,
        )

    Handler = Callable[[str, Any], Any]

    def route(method: str, route_path: str, body_type: Any = None) -> Callable[[Handler], Handler]:
        """Parse the body with qdrant-client's model, run the handler, and map local mode's
        errors to Qdrant's status codes. Endpoints are async and the store calls block, so
        requests are served one at a time (local mode is not thread-safe)."""
        adapter = TypeAdapter(body_type) if body_type is not None else None

        def register(handler: Handler) -> Handler:
            async def endpoint(collection_name: str, request: Request) -> JSONResponse:
                began = time.perf_counter()
                try:
                    body = adapter.validate_python(await request.json()) if adapter else None
                except (ValidationError, ValueError) as exc:
                    return error(400, f"Format error in JSON body: {exc}", began)
                try:
                    result = handler(collection_name, body)
                except ValueError as exc:
                    text = str(exc)
                    if "not found" in text.lower() or "doesn't exist" in text:
                        return error(404, f"Not found: {text}", began)
                    return error(400, f"Bad request: {text}", began)
                return envelope(result, began)

            app.add_api_route(route_path, endpoint, methods=[method])
            return handler

        return register

    def completed() -> models.UpdateResult:
        return models.UpdateResult(operation_id=0, status=models.UpdateStatus.COMPLETED)

    @app.get("/")
    async def root() -> dict[str, str]:
        # QdrantClient compares this with its own version at start (and warns on a mismatch).
        return {
            "title": "qdrant - vector search engine (mock)",
            "version": version("qdrant-client"),
        }

    @app.get("/readyz")
    async def readyz() -> str:
        return "all shards are ready"

    @route("GET", "/collections/{collection_name}/exists")
    def exists(name: str, _: None) -> models.CollectionExistence:
        return models.CollectionExistence(exists=store.collection_exists(name))

    @route("GET", "/collections/{collection_name}")
    def get_collection(name: str, _: None) -> models.CollectionInfo:
        info = store.get_collection(name)
        count = store.count(name, exact=True).count
        schema = {
            field: models.PayloadIndexInfo(
                data_type=models.PayloadSchemaType(kind), params=None, points=count
            )
            for field, kind in indexes.get(name, {}).items()
        }
        return info.model_copy(update={"payload_schema": schema})

    @route("PUT", "/collections/{collection_name}", models.CreateCollection)
    def create_collection(name: str, body: models.CreateCollection) -> bool:
        if store.collection_exists(name):
            raise ValueError(f"Wrong input: Collection `{name}` already exists!")
        store.create_collection(
            name,
            vectors_config=body.vectors or {},
            sparse_vectors_config=body.sparse_vectors,
        )
        indexes.pop(name, None)
        save_indexes()
        return True

    @route("DELETE", "/collections/{collection_name}")
    def delete_collection(name: str, _: None) -> bool:
        deleted = store.delete_collection(name)
        if indexes.pop(name, None) is not None:
            save_indexes()
        return bool(deleted)

    @route("PUT", "/collections/{collection_name}/index", models.CreateFieldIndex)
    def create_index(name: str, body: models.CreateFieldIndex) -> Any:
        if not store.collection_exists(name):
            raise ValueError(f"Collection `{name}` doesn't exist!")
        schema = body.field_schema
        kind = schema if isinstance(schema, str) else getattr(schema, "type", None)
        if kind is None:
            raise ValueError(f"unsupported field_schema {schema!r}")
        indexes.setdefault(name, {})[body.field_name] = models.PayloadSchemaType(kind).value
        save_indexes()
        return completed()

    @route("PUT", "/collections/{collection_name}/points", models.PointInsertOperations)
    def upsert(name: str, body: models.PointInsertOperations) -> Any:
        if isinstance(body, models.PointsList):
            return store.upsert(name, points=body.points, wait=True)
        return store.upsert(name, points=body.batch, wait=True)

    @route("POST", "/collections/{collection_name}/points/delete", models.PointsSelector)
    def delete(name: str, body: models.PointsSelector) -> Any:
        return store.delete(name, points_selector=body, wait=True)

    @route("POST", "/collections/{collection_name}/points/payload", models.SetPayload)
    def set_payload(name: str, body: models.SetPayload) -> Any:
        selector: Any = body.points if body.points is not None else body.filter
        if selector is None:
            raise ValueError("Bad request: either points or filter is required")
        return store.set_payload(name, payload=body.payload, points=selector, key=body.key)

    @route("POST", "/collections/{collection_name}/points/count", models.CountRequest)
    def count(name: str, body: models.CountRequest) -> Any:
        exact = True if body.exact is None else body.exact
        return store.count(name, count_filter=body.filter, exact=exact)

    @route("POST", "/collections/{collection_name}/points/scroll", models.ScrollRequest)
    def scroll(name: str, body: models.ScrollRequest) -> dict[str, Any]:
        records, next_offset = store.scroll(
            name,
            scroll_filter=body.filter,
            limit=body.limit or 10,
            offset=body.offset,
            with_payload=True if body.with_payload is None else body.with_payload,
            with_vectors=body.with_vector or False,
            order_by=body.order_by,
        )
        return {
            "points": [r.model_dump(mode="json") for r in records],
            "next_page_offset": next_offset,
        }

    @route("POST", "/collections/{collection_name}/points/query", models.QueryRequest)
    def query(name: str, body: models.QueryRequest) -> Any:
        return store.query_points(
            name,
            query=body.query,
            using=body.using,
            prefetch=body.prefetch,
            query_filter=body.filter,
            search_params=body.params,
            limit=body.limit or 10,
            offset=body.offset,
            with_payload=False if body.with_payload is None else body.with_payload,
            with_vectors=body.with_vector or False,
            score_threshold=body.score_threshold,
            lookup_from=body.lookup_from,
        )

    @app.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown(rest: str, request: Request) -> JSONResponse:
        # Loud, so a client call the mock does not speak shows up in the test that makes it.
        message = f"the Qdrant mock does not implement {request.method} /{rest}"
        return error(404, message, time.perf_counter())

    return app


def serve(path: Path, port: int) -> None:
    """Run until killed, listening on 127.0.0.1:port beside the parent's reservation."""
    import uvicorn

    sock = reserve_socket(port)
    sock.listen(128)
    config = uvicorn.Config(build_app(path), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


# ---- the controller (runs in the test process) ----------------------------------------------


def reserve_socket(port: int = 0) -> socket.socket:
    """A socket bound to 127.0.0.1:port that shares the port with the server's (SO_REUSEPORT)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    return sock


class MockQdrant:
    """One mock server: `start()` runs it, `stop()` kills it (SIGKILL); the port and the data
    stay, so a start after a stop is the same server coming back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reservation = reserve_socket()
        self.port = int(self._reservation.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = path / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = STARTUP_TIMEOUT) -> MockQdrant:
        if self.running:
            return self
        self.path.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", _MODULE, "--path", str(self.path), "--port", str(self.port)],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"qdrant mock exited at start:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"qdrant mock not ready in {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGKILL, as when a Qdrant server dies; its data is what it had committed."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(30)

    def close(self) -> None:
        self.stop()
        self._reservation.close()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@contextmanager
def mock_qdrant_server(path: Path) -> Iterator[MockQdrant]:
    """A running mock server storing in `path`; killed and its port released afterwards."""
    server = MockQdrant(path)
    try:
        yield server.start()
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(args.path, args.port)


if __name__ == "__main__":
    main()
