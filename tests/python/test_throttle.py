"""Throttle windows that are over are deleted as new attempts are counted, so the table holds
about as many rows as there are live windows (issue 13: only a successful login pruned)."""
import time
import uuid


def test_an_attempt_deletes_throttle_windows_that_are_over(server):
    past = int(time.time() * 1000) - 60_000
    keys = [f"login:ip:test-expired-{uuid.uuid4().hex}" for _ in range(3)]
    with server.d1() as db:
        db.executemany(
            "INSERT INTO throttle (key, window_start, count, expires_at) VALUES (?, ?, 5, ?)",
            [(k, past - 900_000, past) for k in keys],
        )
    r = server.request("POST", "/api/auth/login",
                       json={"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com", "password": "wrong password"})
    assert r.status_code == 401, r.text
    with server.d1() as db:
        left = db.execute(
            f"SELECT key FROM throttle WHERE key IN ({','.join('?' * len(keys))})", keys
        ).fetchall()
        live = db.execute("SELECT COUNT(*) FROM throttle WHERE expires_at > ?",
                          (int(time.time() * 1000),)).fetchone()[0]
    assert left == [], "expired windows are pruned"
    assert live >= 2, "the login's own windows (account and address) are live"
