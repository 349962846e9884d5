"""Autosave in a loop until killed: the child process of tests/test_store_crash.py.

    python tests/helpers/autosave_child.py STORE_PATH RECORD_ID

Continues the record's draft: prints "ready N" (N answers already saved), then saves the
answers a0..aN one more at a time, printing N and flushing after each save returns.
"""

import sys

from fieldapp.store import Store


def main() -> None:
    path, record_id = sys.argv[1:3]
    store = Store(path)
    count = len(store.draft(record_id).answers)
    print("ready", count, flush=True)
    answers = {f"a{i}": i for i in range(count)}
    while True:
        answers[f"a{count}"] = count
        count += 1
        store.save_answers(record_id, answers, position=count)
        print(count, flush=True)


if __name__ == "__main__":
    main()
