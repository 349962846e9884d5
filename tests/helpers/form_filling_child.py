"""Fill a household registration answer by answer until killed (tests/test_app_crash.py).

    python tests/helpers/form_filling_child.py DATA_DIR RECORD_ID

Opens the draft through the app's own FormSession (the code path the screens use), skips
the answers the draft already holds, and answers the rest one at a time, printing the
number of the answer after the session has saved it.
"""

import sys
from pathlib import Path

from fieldapp.catalog import FormCatalog
from fieldapp.session import FormSession, Slot
from fieldapp.store import Store
from forms.samples import sample_household


def operations(record: dict) -> list[tuple]:
    """The household as a sequence of enumerator actions: answers, and 'add a member'."""
    ops: list[tuple] = []
    for name, value in record.items():
        if name != "members":
            ops.append(("answer", name, (), value))
    for position, member in enumerate(record["members"]):
        ops.append(("add", "members", (), position))
        for name, value in member.items():
            ops.append(("answer", name, (position,), value))
    return ops


def main() -> None:
    data_dir, record_id = Path(sys.argv[1]), sys.argv[2]
    store = Store(data_dir / "fieldapp.db")
    catalog = FormCatalog(store, data_dir / "forms")
    draft = store.draft(record_id)
    session = FormSession(catalog.form(draft.form_id, draft.form_version), store, record_id)
    ops = operations(sample_household(seed=11, members=6))
    done = 0
    for op in ops:  # what the draft already holds was saved before the last kill
        kind, name, index, value = op
        if kind == "add":
            if session.instance_count(session.form.node(name)) <= value:
                break
        elif session.value(Slot(session.form.question(name), index)) != value:
            break
        done += 1
    print("ready", done, flush=True)
    for number in range(done, len(ops)):
        kind, name, index, value = ops[number]
        if kind == "add":
            session.add_instance(session.form.node(name))
        else:
            session.set_answer(Slot(session.form.question(name), index), value)
        print(number + 1, flush=True)
    print("complete", flush=True)


if __name__ == "__main__":
    main()
