"""Run both sandbox servers over HTTPS in one process and publish their coordinates in ``sandbox.env``."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

import trustme
import uvicorn

from sandbox.acton.app import create_app as create_acton_app
from sandbox.admin.control import Control
from sandbox.admin.mutate import apply_ops
from sandbox.headers import canonical_headers
from sandbox.salesforce import access
from sandbox.salesforce.app import create_app as create_salesforce_app
from sandbox.store import Store
from sandbox.world import generate

ADMIN_ENV = "salesforce-admin.env"

log = logging.getLogger("sandbox")


def listening_socket(port: int | None = None) -> socket.socket:
    """Bound on 127.0.0.1 (the given port, else one the OS picks) and kept open for the server: a port picked,
    closed and bound again later can be taken in between (by the other server, or by another sandbox)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port or 0))
    return sock


def write_tls(data_dir: Path) -> tuple[Path, Path, Path]:
    """A local CA (its PEM is what clients trust) and a server certificate for 127.0.0.1 and localhost."""
    ca = trustme.CA(organization_name="sfacton sandbox CA")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_path, cert_path, key_path = data_dir / "ca.pem", data_dir / "server.pem", data_dir / "server.key"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_pem.write_to_path(str(key_path))
    for i, blob in enumerate(cert.cert_chain_pems):
        blob.write_to_path(str(cert_path), append=i > 0)
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


def env_lines(control: Control, sf_port: int, acton_port: int, ca_path: Path) -> dict[str, str]:
    store = control.store
    sf = store.get_meta("salesforce_credentials", {})
    ao = store.get_meta("acton_credentials", {})
    sf_url, ao_url = f"https://127.0.0.1:{sf_port}", f"https://127.0.0.1:{acton_port}"
    env = {
        "SALESFORCE_LOGIN_URL": sf_url,
        "SALESFORCE_CLIENT_ID": sf.get("client_id", ""),
        "SALESFORCE_CLIENT_SECRET": sf.get("client_secret", ""),
        "SALESFORCE_USERNAME": sf.get("username", ""),
        "SALESFORCE_PASSWORD": sf.get("password", ""),
        "SALESFORCE_SECURITY_TOKEN": sf.get("security_token", ""),
        "SALESFORCE_REFRESH_TOKEN": sf.get("refresh_token", ""),
        "SALESFORCE_SANDBOX_URL": f"{sf_url}/__sandbox",
        "ACTON_BASE_URL": ao_url,
        "ACTON_CLIENT_ID": ao.get("client_id", ""),
        "ACTON_CLIENT_SECRET": ao.get("client_secret", ""),
        "ACTON_USERNAME": ao.get("username", ""),
        "ACTON_PASSWORD": ao.get("password", ""),
        "ACTON_SANDBOX_URL": f"{ao_url}/__sandbox",
        "SANDBOX_ADMIN_TOKEN": control.admin_token,
        "REQUESTS_CA_BUNDLE": str(ca_path),
    }
    jwt_key = control.data_dir / "jwt_private_key.pem"
    if jwt_key.exists():
        env["SALESFORCE_JWT_KEY_FILE"] = str(jwt_key)
    return env


def serve(
    data_dir: Path, scale: int, seed: int, sf_port: int | None, acton_port: int | None, bare_org: bool = False
) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    env_path = data_dir / "sandbox.env"
    env_path.unlink(missing_ok=True)  # a stale file would tell clients the sandbox is up
    store = Store(data_dir / "sandbox.sqlite")
    control = Control(store, data_dir)

    sf_app = create_salesforce_app(control)
    acton_app = create_acton_app(control)
    log.info("generating the world (scale %d, seed %d) if the data dir has none", scale, seed)
    generate(store, scale, seed)
    if bare_org and not store.get_meta("bare_org"):  # once: a restart keeps what `make setup-org` created
        apply_ops(store, access.bare_org_ops())
        store.set_meta("bare_org", True)
    ca_path, cert_path, key_path = write_tls(data_dir)
    sockets = {"salesforce": listening_socket(sf_port), "acton": listening_socket(acton_port)}
    ports = {system: sock.getsockname()[1] for system, sock in sockets.items()}
    servers = {
        system: uvicorn.Server(
            uvicorn.Config(
                canonical_headers(control.middleware(system, app, control.admin_app(system))),
                # h11 writes header names as the app spells them (httptools lowercases them); the middleware
                # sends Date in its canonical casing instead of uvicorn's lowercase date and server
                http="h11",
                date_header=False,
                server_header=False,
                ssl_certfile=str(cert_path),
                ssl_keyfile=str(key_path),
                log_level="warning",
                lifespan="off",
                timeout_keep_alive=30,
                timeout_graceful_shutdown=2,
            )
        )
        for system, app in (("salesforce", sf_app), ("acton", acton_app))
    }

    async def main() -> None:
        tasks = [
            asyncio.create_task(servers[system].serve(sockets=[sock])) for system, sock in sockets.items()
        ]
        while not all(s.started for s in servers.values()):
            if any(t.done() for t in tasks):
                await asyncio.gather(*tasks)  # surfaces the start-up error
                raise SystemExit("sandbox: a server stopped during start-up")
            await asyncio.sleep(0.05)
        env = env_lines(control, ports["salesforce"], ports["acton"], ca_path)
        # The administrator's login, for `make setup-org` alone: kept out of the pipeline's sandbox.env.
        admin = access.admin_credentials(store) or {}
        admin_env = data_dir / ADMIN_ENV
        admin_env.write_text(
            f"SALESFORCE_ADMIN_USERNAME={admin.get('username', '')}\n"
            f"SALESFORCE_ADMIN_PASSWORD={admin.get('password', '')}\n"
        )
        os.chmod(admin_env, 0o600)
        tmp = env_path.with_suffix(".tmp")
        tmp.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        os.chmod(tmp, 0o600)
        tmp.replace(env_path)
        log.warning(
            "sandbox ready: Salesforce %s, Act-On %s; environment in %s",
            env["SALESFORCE_LOGIN_URL"],
            env["ACTON_BASE_URL"],
            env_path,
        )
        await asyncio.gather(*tasks)

    try:
        asyncio.run(main())
    finally:
        env_path.unlink(missing_ok=True)
