"""The Salesforce sandbox app: routes for OAuth, REST, Bulk API 2.0 and the Tooling API's custom fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.admin.control import Control
from sandbox.salesforce import access
from sandbox.salesforce.auth import Auth
from sandbox.salesforce.bulk_ingest import BulkIngest
from sandbox.salesforce.bulk_jobs import Jobs
from sandbox.salesforce.bulk_query import BulkQuery
from sandbox.salesforce.calls import Api, Call
from sandbox.salesforce.composite import Composite
from sandbox.salesforce.describe import versions
from sandbox.salesforce.errors import SfError, json_response, not_found
from sandbox.salesforce.query import QueryApi
from sandbox.salesforce.rest import Rest
from sandbox.salesforce.results import Results
from sandbox.salesforce.tooling import Tooling

_DATA = "/services/data/v{version}"


def _both_slashes(path: str, endpoint: Callable[..., Any], methods: list[str]) -> list[Route]:
    """Salesforce answers with and without a trailing slash; a redirect would cost clients a call."""
    return [Route(path, endpoint, methods=methods), Route(path + "/", endpoint, methods=methods)]


def create_app(control: Control) -> Starlette:
    store = control.store
    access.ensure_tables(store)
    auth = Auth(control)
    tooling = Tooling(store)
    api = Api(control, auth)
    results = Results(control.data_dir, store.path)
    jobs = Jobs(results)
    rest = Rest(control, jobs.created_today)
    queries = QueryApi(store, results)
    bulk_query = BulkQuery(control, jobs)
    bulk_ingest = BulkIngest(control, results, jobs)

    def query(include_deleted: bool) -> Callable[[Call], Response]:
        return lambda call: json_response(queries.query(call, include_deleted=include_deleted))

    def by_method(**handlers: Callable[[Call], Response]) -> Callable[[Call], Response]:
        return lambda call: handlers[call.method.lower()](call)

    async def data_versions(request: Request) -> Response:
        return json_response(versions())

    table: list[tuple[str, Callable[[Call], Response], list[str]]] = [
        ("", rest.resources, ["GET"]),
        ("/sobjects", rest.sobjects, ["GET"]),
        ("/sobjects/{obj}", rest.sobject, ["GET", "POST"]),
        ("/sobjects/{obj}/describe", rest.describe, ["GET"]),
        ("/sobjects/{obj}/updated", rest.updated, ["GET"]),
        ("/sobjects/{obj}/deleted", rest.deleted, ["GET"]),
        ("/sobjects/{obj}/{id}", rest.record, ["GET", "PATCH", "DELETE"]),
        ("/sobjects/{obj}/{field}/{value:path}", rest.by_external_id, ["GET", "PATCH", "DELETE"]),
        ("/query", query(False), ["GET"]),
        ("/queryAll", query(True), ["GET"]),
        ("/query/{locator}", lambda call: json_response(queries.more(call)), ["GET"]),
        ("/queryAll/{locator}", lambda call: json_response(queries.more(call)), ["GET"]),
        ("/limits", rest.limits, ["GET"]),
        ("/tooling/query", tooling.query, ["GET"]),
        ("/tooling/sobjects/CustomField", tooling.create_field, ["POST"]),
        ("/limits/recordCount", rest.record_count, ["GET"]),
        ("/composite/sobjects", rest.collection, ["POST", "PATCH", "DELETE"]),
        ("/composite/sobjects/{obj}", rest.collection_get, ["GET"]),
        ("/jobs/query", by_method(post=bulk_query.create, get=bulk_query.list), ["GET", "POST"]),
        ("/jobs/query/{job_id}", bulk_query.job, ["GET", "PATCH", "DELETE"]),
        ("/jobs/query/{job_id}/results", bulk_query.results_page, ["GET"]),
        ("/jobs/ingest", by_method(post=bulk_ingest.create, get=bulk_ingest.list), ["GET", "POST"]),
        ("/jobs/ingest/{job_id}", bulk_ingest.job, ["GET", "PATCH", "DELETE"]),
        ("/jobs/ingest/{job_id}/batches", bulk_ingest.upload, ["PUT"]),
    ]
    table += [
        (f"/jobs/ingest/{{job_id}}/{kind}", bulk_ingest.result_file, ["GET"])
        for kind in ("successfulResults", "failedResults", "unprocessedrecords", "unprocessedRecords")
    ]
    # Composite runs the other resources' handlers itself, matched by the same route templates.
    composite = Composite(
        [(Route(_DATA + path, handler, methods=methods), handler) for path, handler, methods in table]
    )
    table.append(("/composite", composite, ["POST"]))
    routes = [
        Route("/services/oauth2/token", auth.token, methods=["POST"]),
        Route("/services/oauth2/revoke", auth.revoke, methods=["POST"]),
        Route("/services/oauth2/userinfo", auth.userinfo, methods=["GET", "POST"]),
        Route("/id/{org_id}/{user_id}", auth.identity, methods=["GET", "POST"]),
        *_both_slashes("/services/data", data_versions, ["GET"]),
    ]
    for path, handler, methods in table:
        routes += _both_slashes(_DATA + path, api.endpoint(handler), methods)

    async def missing(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            allowed = exc.headers.get("Allow", "") if exc.headers else ""
            return SfError(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}",
                code_first=True,
            ).response()
        return not_found().response()

    return Starlette(routes=routes, exception_handlers={404: missing, 405: missing})
