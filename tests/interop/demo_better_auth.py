"""Manual proof that real Better Auth JWTs verify with PyJWT.

Run: python tests/interop/demo_better_auth.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import jwt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from better_auth_server import NODE_PROJECT_DIR, install_node_packages, run_better_auth


def main() -> None:
    t0 = time.monotonic()
    install_node_packages(NODE_PROJECT_DIR)
    print(f"install_node_packages: {time.monotonic() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        with run_better_auth(Path(tmp)) as server:
            print(f"server ready: {time.monotonic() - t0:.2f} s at {server.base_url}")
            users = [
                server.sign_up("alice@example.com", "password-alice-1", "Alice"),
                server.sign_up("bob@example.com", "password-bob-12", "Bob"),
            ]
            print("JWKS:", json.dumps(server.jwks()))
            jwks_client = jwt.PyJWKClient(server.jwks_url)
            for user_id, token in users:
                key = jwks_client.get_signing_key_from_jwt(token)
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=["EdDSA"],
                    audience=server.base_url,
                    issuer=server.base_url,
                )
                assert claims["sub"] == user_id
                print("header:", jwt.get_unverified_header(token))
                print("claims:", claims)
                print("lifetime s:", claims["exp"] - claims["iat"])
            proc = server.process
            t0 = time.monotonic()
        print(f"server stop: {time.monotonic() - t0:.2f} s, exit code {proc.returncode}")


if __name__ == "__main__":
    main()
