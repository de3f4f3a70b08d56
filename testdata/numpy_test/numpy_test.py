"""Third-party packages in a hermetic bundle: numpy (native code, with
OpenBLAS and libgfortran vendored in numpy.libs/), PyYAML (a C extension)
and portpicker (pure Python, so it rides in the .pyz).

Prints one JSON line with what it computed and where each package came
from, and exits 0 only when every answer is right.
"""
import json
import sys

import numpy as np
import portpicker
import yaml


def main():
    a = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([9.0, 8.0])
    x = np.linalg.solve(a, b)  # LAPACK, from the vendored OpenBLAS
    m = np.arange(1.0, 10001.0).reshape(100, 100)
    trace = float(np.trace(m @ m.T))  # BLAS dgemm
    expected_trace = float(sum(v * v for v in range(1, 10001)))
    doc = yaml.load("answer: [2, 3]\n", Loader=yaml.CLoader)  # libyaml through the C extension
    port = portpicker.pick_unused_port()
    result = {
        "solve": x.tolist(),
        "trace": trace,
        "yaml": doc,
        "port_ok": 0 < port < 65536,
        "numpy": np.__file__,
        "yaml_c": yaml.__with_libyaml__,
        "portpicker": portpicker.__file__,
    }
    print(json.dumps(result))
    ok = np.allclose(x, [2.0, 3.0]) and trace == expected_trace and doc == {"answer": [2, 3]} and result["port_ok"]
    if "--force-failure" in sys.argv[1:]:
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
