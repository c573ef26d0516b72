"""docs/periodic.rst keeps the same stuck-instance table as the code."""

import os
import re

from nova_proxy.periodic.tasks import heal_stuck_instances as heal

DOC = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'docs',
                   'periodic.rst')


def _doc_table():
    with open(DOC) as f:
        text = f.read()
    table = text.split('What healing does, per task_state', 1)[1]
    table = table.split('Why these choices', 1)[0]
    result = {}
    for row in re.split(r'\n   \* - ', table)[2:]:
        cells = re.split(r'\n     - ', row)
        states = ' '.join(cells[0].split())
        for state in states.split(', '):
            result[state.strip()] = cells[1].strip()
    return result


def test_the_documented_table_is_the_code_table():
    assert _doc_table() == heal.STUCK_STATES
