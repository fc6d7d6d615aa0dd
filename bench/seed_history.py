"""Extends one conversation's message log to TOTAL messages, for the history benchmark.

    python3 bench/seed_history.py STATE_DIR CONVERSATION_ID TOTAL [BRANCHES]

Run by bench/loadgen while `wrangler dev` is stopped. The conversation's Durable Object keeps
its messages in its own SQLite file under STATE_DIR/v3/do/<script>-Conversation/, named by a
hash; miniflare records the object's name (the conversation id) in `__miniflare_do_name`.
The rows already written through the API are repeated, with new sequence numbers, ids and
times, so the added rows look exactly like real ones. Building 10,000 messages through the
API (one reply at a time per conversation) would take most of the benchmark's time budget.

Messages form a tree (src/conversation/tree.rs): the added pairs continue the current branch
(each message's parent the one before it), and BRANCHES of them (spread evenly) get a sibling
pair first, an earlier edit and its reply, left off the current branch: TOTAL messages in a
tree with BRANCHES branches, the newest page of which is read as a linear history is.
"""

import glob
import os
import sqlite3
import sys


def find(state_dir, conversation):
    for path in glob.glob(os.path.join(state_dir, "v3", "do", "*-Conversation", "*.sqlite")):
        db = sqlite3.connect(path)
        try:
            row = db.execute("SELECT name FROM __miniflare_do_name").fetchone()
        except sqlite3.Error:
            row = None
        finally:
            db.close()
        if row and row[0] == conversation:
            return path
    return None


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    state_dir, conversation, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    branches = int(sys.argv[4]) if len(sys.argv) == 5 else 0
    path = find(state_dir, conversation)
    if path is None:
        sys.exit(f"no Durable Object storage for {conversation} under {state_dir}")
    db = sqlite3.connect(path)
    columns = ("role, content, model, status, prompt_tokens, completion_tokens, "
               "finish_reason, error_code")
    template = db.execute(
        f"SELECT {columns} FROM messages WHERE status = 'complete' ORDER BY seq").fetchall()
    (count, last_seq, last_at) = db.execute(
        "SELECT COUNT(*), MAX(seq), MAX(created_at) FROM messages").fetchone()
    if not template or len(template) < 2:
        sys.exit("seed the conversation through the API first (at least one reply)")
    # Keep user/assistant pairs in order.
    if template[0][0] != "user":
        template = template[1:]
    if len(template) % 2:
        template = template[:-1]
    leaf = db.execute("SELECT value FROM tree_state WHERE key = 'leaf'").fetchone()[0]
    pairs = [template[i:i + 2] for i in range(0, len(template), 2)]
    rows = []
    seq, at = last_seq, last_at

    def add(row, parent):
        nonlocal seq, at
        seq += 1
        at += 5
        role, content, model, status, pt, ct, finish, err = row
        mid = f"msg_seed{seq:020d}"
        rows.append((seq, mid, role, content, model, status, pt, ct, finish, err, at, at, parent))
        return mid

    added_pairs = (total - count) // 2
    every = max(1, -(-(added_pairs - branches) // branches)) if branches else 0
    side = 0
    for i in range(added_pairs):
        if count + len(rows) + 2 > total:
            break
        user, reply = pairs[i % len(pairs)]
        if every and side < branches and i % every == 0 and count + len(rows) + 4 <= total:
            # An earlier version of the next message, with its reply: a branch left behind.
            add(reply, add(user, leaf))
            side += 1
        leaf = add(reply, add(user, leaf))
    with db:
        db.executemany(
            "INSERT INTO messages (seq, id, role, content, model, status, prompt_tokens, "
            "completion_tokens, finish_reason, error_code, created_at, updated_at, parent_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute("UPDATE tree_state SET value = ? WHERE key = 'leaf'", (leaf,))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    final = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    db.close()
    print(f"{os.path.basename(path)}: {count} messages through the API, {len(rows)} added "
          f"({side} branches), {final} now")


if __name__ == "__main__":
    main()
