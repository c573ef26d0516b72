"""``tools/demo.py --in-process``: the README's demo where no broker
answers, a proxy and two computes in one process on oslo.messaging's
in-process transport. Nothing else starts it: a change of a default
(the proxy's RPC server) once made it end in a traceback."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def test_the_in_process_demo_runs_to_its_end(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'demo.py'),
         '--in-process', '--state', str(tmp_path / 'state')],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert 'Traceback' not in output, output[-3000:]
    # Its builds and the resize all ran through the proxy.
    assert len(re.findall(r'^Operation \S+ done after', output,
                          re.MULTILINE)) >= 3, output[-3000:]
    assert '== Done.' in output
