"""Gives one user CONVERSATIONS conversations of PER_CONVERSATION indexed messages each, in the
local D1 database, for the search benchmark.

    python3 bench/seed_search.py STATE_DIR USER_ID ORG_ID CONVERSATIONS PER_CONVERSATION

Run by bench/loadgen while `wrangler dev` is stopped. Writes what the API would have written:
`conversations` rows (their titles indexed by migration 0015's trigger) and `search_entries`
rows (the FTS5 index kept by its triggers), the user's own (`owner` = hex(user_id)). The
messages themselves are not written into Durable Objects: search reads only D1. Text: 30 words
per message drawn from 5,000 words `w0`…`w4999` with Zipf weights (w1 is in almost every
message, w4321 in about 0.3 %), from a fixed seed.
"""

import glob
import os
import random
import sqlite3
import sys
import time

VOCABULARY = 5000
WORDS_PER_MESSAGE = 30


def d1_file(state_dir):
    files = [p for p in glob.glob(os.path.join(state_dir, "v3", "d1", "*", "*.sqlite"))
             if os.path.basename(p) != "metadata.sqlite"]
    if len(files) != 1:
        sys.exit(f"expected one local D1 database under {state_dir}, found {files}")
    return files[0]


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    state_dir, user_id, org_id = sys.argv[1:4]
    conversations, per_conversation = int(sys.argv[4]), int(sys.argv[5])
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(VOCABULARY)]
    weights = [1.0 / (i + 1) for i in range(VOCABULARY)]
    started = time.time()
    db = sqlite3.connect(d1_file(state_dir), timeout=30)
    base = int(time.time() * 1000) - 86_400_000
    convs = [(f"cnv_seed{i:018d}", user_id, org_id,
              f"Conversation {i} about " + " ".join(rng.choices(vocab, weights, k=3)),
              "demo/echo", "", base + i, base + i) for i in range(conversations)]
    owner = user_id.encode().hex().upper()
    with db:
        db.executemany(
            "INSERT INTO conversations (id, user_id, org_id, title, model, system_prompt, created_at, "
            "last_activity) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", convs)
        for conv in convs:
            db.executemany(
                "INSERT INTO search_entries (conversation_id, message_id, owner, body) VALUES (?, ?, ?, ?)",
                [(conv[0], f"msg_seed{conv[0][8:]}{j:05d}", owner,
                  " ".join(rng.choices(vocab, weights, k=WORDS_PER_MESSAGE)))
                 for j in range(per_conversation)])
    db.execute("INSERT INTO search_index (search_index) VALUES ('optimize')")
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    entries = db.execute("SELECT COUNT(*) FROM search_entries WHERE owner = ?", (owner,)).fetchone()[0]
    db.close()
    print(f"{conversations} conversations, {entries} index entries (titles included) "
          f"in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
