"""OAuth 2.0 as Salesforce serves it: the token endpoint (password, client_credentials, refresh_token, JWT
bearer), revoke, the identity URL and userinfo, and the bearer check every data call goes through."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from starlette.requests import Request
from starlette.responses import Response

from sandbox.admin.control import Control
from sandbox.salesforce import access
from sandbox.salesforce.errors import SfError, invalid_session, json_response, oauth_error
from sandbox.store import Store, salesforce_id

JWT_KEY_FILE = "jwt_private_key.pem"
JWT_CERT_FILE = "jwt_cert.pem"
API_USERNAME = "integration@sandbox.example.com"
_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PRODUCTION_LOGIN_URL, SANDBOX_LOGIN_URL = "https://login.salesforce.com", "https://test.salesforce.com"


def credentials(store: Store) -> dict[str, str]:
    """The connected app and integration user, derived from a random token saved at first start."""
    creds = store.get_meta("salesforce_credentials")
    if creds is None:
        seed = store.get_meta("salesforce_secret_seed") or secrets.token_hex(32)
        store.set_meta("salesforce_secret_seed", seed)

        def derive(label: str, n: int) -> str:
            digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
            return base64.b64encode(digest * 3).decode().translate(str.maketrans("+/=", "xyz"))[:n]

        creds = {
            "client_id": "3MVG9" + derive("client_id", 80),
            "client_secret": hashlib.sha256(f"{seed}:client_secret".encode()).hexdigest().upper(),
            "username": API_USERNAME,
            "password": derive("password", 20),
            "security_token": derive("security_token", 24),
            "refresh_token": "5Aep861" + derive("refresh_token", 80),
        }
        store.set_meta("salesforce_credentials", creds)
    return creds


def ensure_jwt_keys(data_dir: Path) -> bytes:
    """The connected app's certificate (PEM); key and certificate are written on first start."""
    key_path, cert_path = data_dir / JWT_KEY_FILE, data_dir / JWT_CERT_FILE
    if not (key_path.exists() and cert_path.exists()):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sfacton sandbox connected app")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_path.chmod(0o600)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path.read_bytes()


def base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


class Auth:
    def __init__(self, control: Control):
        self.control = control
        self.store = control.store
        self.creds = credentials(self.store)
        self.public_key = x509.load_pem_x509_certificate(ensure_jwt_keys(control.data_dir)).public_key()
        with self.store.transaction() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS sf_tokens (token TEXT PRIMARY KEY, kind TEXT, issued_at REAL, "
                "expires_at REAL, revoked INTEGER DEFAULT 0, grant_type TEXT)"
            )
            # a data dir from before grants were recorded: its tokens keep a null grant
            if "grant_type" not in {row[1] for row in c.execute("PRAGMA table_info(sf_tokens)")}:
                c.execute("ALTER TABLE sf_tokens ADD COLUMN grant_type TEXT")
            c.execute(
                "INSERT OR IGNORE INTO sf_tokens (token, kind, issued_at) VALUES (?, 'refresh', ?)",
                (self.creds["refresh_token"], time.time()),
            )
        control.register_expirer("salesforce", self.expire_access_tokens)

    # -- identities -----------------------------------------------------------------------------------
    def org_id(self) -> str:
        with self.store.lock:
            row = self.store.conn.execute('SELECT "Id" FROM "Organization" LIMIT 1').fetchone()
        return row[0] if row else salesforce_id(self.store.key_prefix("Organization"), 1)

    def is_sandbox_org(self) -> bool:
        with self.store.lock:
            row = self.store.conn.execute('SELECT "IsSandbox" FROM "Organization" LIMIT 1').fetchone()
        return bool(row and row[0])

    def audiences(self, request: Request) -> tuple[str, str]:
        """The ``aud`` a JWT may name: the org's My Domain URL (the URL it is posted to), or the public login
        URL of its kind — test.salesforce.com for a sandbox org, login.salesforce.com for production, never both."""
        return base_url(request), SANDBOX_LOGIN_URL if self.is_sandbox_org() else PRODUCTION_LOGIN_URL

    def user_id(self) -> str:
        """The integration user every API write is made by; created in the org the first time it is needed."""
        uid = self.store.get_meta("api_user_id")
        if uid is None:
            with self.store.lock:
                row = self.store.conn.execute(
                    'SELECT "Id" FROM "User" WHERE "Username" = ?', (self.creds["username"],)
                ).fetchone()
                uid = row[0] if row else None
                if uid is None:
                    user = {
                        "Username": self.creds["username"],
                        "Email": self.creds["username"],
                        "FirstName": "Integration",
                        "LastName": "User",
                        "Name": "Integration User",
                        "IsActive": 1,
                    }
                    (uid,) = self.store.insert("User", [user])
                self.store.set_meta("api_user_id", uid)
        return uid

    # -- tokens ---------------------------------------------------------------------------------------
    def _issue(
        self, request: Request, grant: str, *, with_refresh: bool = False, user_id: str | None = None
    ) -> Response:
        """A new access token for ``user_id`` (the integration user unless another user logged in)."""
        now = time.time()
        token = f"{self.org_id()[:15]}!{secrets.token_urlsafe(72)}"
        lifetime = self.control.limits.salesforce_token_lifetime_s
        with self.store.lock:
            self.store.conn.execute(
                "DELETE FROM sf_tokens WHERE kind = 'access' AND expires_at < ?", (now - 86400,)
            )
            self.store.conn.execute(
                "INSERT INTO sf_tokens VALUES (?, 'access', ?, ?, 0, ?)", (token, now, now + lifetime, grant)
            )
        if user_id is not None:
            access.remember_session(self.store, token, user_id)
        base = base_url(request)
        identity = self.identity_url(request, user_id or self.user_id())
        issued_at = str(int(now * 1000))
        signature = hmac.new(
            self.creds["client_secret"].encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
        body: dict[str, Any] = {
            "access_token": token,
            "instance_url": base,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": base64.b64encode(signature).decode(),
            "scope": "api refresh_token",
        }
        if with_refresh:
            body["refresh_token"] = self.creds["refresh_token"]
        return json_response(body)

    def expire_access_tokens(self) -> None:
        with self.store.lock:
            self.store.conn.execute("UPDATE sf_tokens SET revoked = 1 WHERE kind = 'access'")

    def identity_url(self, request: Request, user_id: str) -> str:
        return f"{base_url(request)}/id/{self.org_id()}/{user_id}"

    def check(self, authorization: str | None) -> str:
        """The user whose live access token the header carries; INVALID_SESSION_ID when it carries none."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token:
            raise invalid_session()
        with self.store.lock:
            row = self.store.conn.execute(
                "SELECT expires_at, revoked FROM sf_tokens WHERE token = ? AND kind = 'access'",
                (token.strip(),),
            ).fetchone()
        if row is None or row[1] or row[0] < time.time():
            raise invalid_session()
        return access.session_user(self.store, token.strip()) or self.user_id()

    # -- endpoints ------------------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        form = dict(await request.form())
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            form.setdefault("client_id", client_id)
            form.setdefault("client_secret", client_secret)
        grant = form.get("grant_type")
        if grant == _JWT_GRANT:
            return self._jwt_grant(request, str(form.get("assertion", "")))
        if grant not in ("password", "client_credentials", "refresh_token"):
            return oauth_error("unsupported_grant_type", "grant type not supported")
        if form.get("client_id") != self.creds["client_id"]:
            return oauth_error("invalid_client_id", "client identifier invalid")
        # A refresh may leave the secret out (public clients); when it is sent it must be right.
        secret_sent = grant != "refresh_token" or form.get("client_secret") is not None
        if secret_sent and not hmac.compare_digest(
            str(form.get("client_secret", "")), self.creds["client_secret"]
        ):
            return oauth_error("invalid_client", "invalid client credentials")
        if grant == "password":
            password = str(form.get("password", ""))
            admin = access.admin_login(self.store, str(form.get("username", "")), password)
            if admin is not None:
                return self._issue(request, "password", user_id=admin)
            accepted = (self.creds["password"], self.creds["password"] + self.creds["security_token"])
            if form.get("username") != self.creds["username"] or password not in accepted:
                return oauth_error("invalid_grant", "authentication failure")
        if grant == "refresh_token":
            with self.store.lock:
                row = self.store.conn.execute(
                    "SELECT revoked, expires_at FROM sf_tokens WHERE token = ? AND kind = 'refresh'",
                    (str(form.get("refresh_token", "")),),
                ).fetchone()
            if row is None or row[0] or (row[1] is not None and row[1] < time.time()):
                return oauth_error("invalid_grant", "expired access/refresh token")
        return self._issue(request, str(grant))

    def _jwt_grant(self, request: Request, assertion: str) -> Response:
        try:
            # simple-salesforce sends exp as a string, which Salesforce accepts: exp is checked by hand.
            claims = jwt.decode(
                assertion,
                self.public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_aud": False},
            )
        except jwt.PyJWTError:
            return oauth_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != self.creds["client_id"]:
            return oauth_error("invalid_client_id", "client identifier invalid")
        if claims.get("aud") not in self.audiences(request):
            return oauth_error("invalid_grant", "audience is invalid")
        try:
            expired = float(claims["exp"]) < time.time()
        except (KeyError, TypeError, ValueError):
            expired = True
        if expired or claims.get("sub") != self.creds["username"]:
            return oauth_error("invalid_grant", "invalid assertion")
        return self._issue(request, _JWT_GRANT)

    async def revoke(self, request: Request) -> Response:
        form = await request.form()
        token = str(form.get("token") or request.query_params.get("token") or "")
        with self.store.lock:
            changed = self.store.conn.execute(
                "UPDATE sf_tokens SET revoked = 1 WHERE token = ?", (token,)
            ).rowcount
        if not changed:
            return oauth_error("invalid_token", "invalid token")
        return Response(status_code=200)

    def _bearer_user(self, request: Request) -> str | None:
        try:
            return self.check(request.headers.get("authorization"))
        except SfError:
            return None

    def _who(self, request: Request, user_id: str) -> dict[str, Any]:
        """What the identity URL and userinfo both say of the token's user."""
        with self.store.lock:
            row = self.store.conn.execute(
                'SELECT "Username", "Email", "FirstName", "LastName", "Name" FROM "User" WHERE "Id" = ?',
                (user_id,),
            ).fetchone()
        username, email, first, last, name = row
        base = base_url(request)
        return {
            "user_id": user_id,
            "organization_id": self.org_id(),
            "email": email or username,
            "email_verified": True,
            "first_name": first,
            "last_name": last,
            "name": name,
            "username": username,
            "user_type": "STANDARD",
            "active": True,
            "is_app_installed": True,
            "urls": {
                "rest": f"{base}/services/data/v{{version}}/",
                "query": f"{base}/services/data/v{{version}}/query/",
                "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
            },
        }

    async def userinfo(self, request: Request) -> Response:
        """The OpenID Connect userinfo of the token's user (``sub`` is its identity URL)."""
        user = self._bearer_user(request)
        if user is None:
            return Response("Bad_OAuth_Token", status_code=403, media_type="text/plain")
        who = self._who(request, user)
        return json_response(
            {"sub": self.identity_url(request, user), "preferred_username": who["username"], **who}
        )

    async def identity(self, request: Request) -> Response:
        """The identity URL of a token response, ``GET /id/<orgId>/<userId>``: only the token's own user's."""
        user = self._bearer_user(request)
        if user is None:
            return Response("Bad_OAuth_Token", status_code=403, media_type="text/plain")
        if (request.path_params["org_id"], request.path_params["user_id"]) != (self.org_id(), user):
            return Response("Bad_Id", status_code=403, media_type="text/plain")
        who = self._who(request, user)
        return json_response(
            {
                "id": self.identity_url(request, user),
                "asserted_user": True,
                "display_name": who["name"],
                "language": "en_US",
                "locale": "en_US",
                "utcOffset": 0,
                **who,
            }
        )
