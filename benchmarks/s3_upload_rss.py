"""Peak RSS of storing one large artifact to S3 (moto's server on 127.0.0.1, in a process
of its own so that the bytes it keeps are not counted): the artifact's memory, then what
storing it adds. The store uploads a big blob in parts as it is written, so what it adds
stays near one part whatever the artifact's size.

    python benchmarks/s3_upload_rss.py [MEGABYTES]     (default 1024; MOTO_LOG=file: the server's log)

Two artifacts: random bytes as a NumPy array (incompressible: written raw) and a
compressible array (written as zstd frames). The store call is the one a task makes
(Datastore.put_object: encode, then the blob). Needs moto[server], s3fs and numpy.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

CHILD = r"""
import json, os, sys, time
import numpy as np
from nbflow.datastore import Datastore

def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024

n = int(sys.argv[1]) << 20
kind = sys.argv[2]
if kind == 'random':
    arr = np.frombuffer(np.random.default_rng(0).bytes(n), dtype=np.uint8)
else:
    arr = np.arange(n // 8, dtype=np.int64) % 1000
ds = Datastore(sys.argv[3])
import s3fs, nbflow.datastore.serialize  # imported before the baseline
ds.storage.exists('x')   # the client made
with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')   # the peak so far (making the array) set back to what is resident now
before = hwm()
start = time.monotonic()
ref = ds.put_object(arr)
seconds = time.monotonic() - start
after = hwm()
stored = ds.storage.size(ds.blob_path(ref['key']))
print(json.dumps({'kind': kind, 'artifact_mb': arr.nbytes / 2**20, 'before_mb': before,
                  'peak_mb': after, 'added_mb': after - before, 'seconds': seconds,
                  'stored_mb': stored / 2**20}))
"""


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                               str(port)], stdout=subprocess.DEVNULL,
                              stderr=open(os.environ.get("MOTO_LOG", os.devnull), "w"))
    try:
        url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION="us-east-1",
                   NBFLOW_DATASTORE_OPTIONS=json.dumps({"endpoint_url": url}))
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        import boto3

        boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(Bucket="rss")
        print(f"load {os.getloadavg()[0]:.1f}; artifact {megabytes} MiB")
        for kind in ("random", "compressible"):
            res = subprocess.run([sys.executable, "-c", CHILD, str(megabytes), kind,
                                  f"s3://rss/{kind}"], env=env, capture_output=True, text=True)
            if res.returncode != 0:
                raise SystemExit(res.stderr)
            r = json.loads(res.stdout)
            print(f"{r['kind']:>12}: artifact {r['artifact_mb']:.0f} MiB, RSS before storing "
                  f"{r['before_mb']:.0f} MB, peak {r['peak_mb']:.0f} MB (+{r['added_mb']:.0f} MB "
                  f"while storing), {r['seconds']:.1f} s, blob {r['stored_mb']:.0f} MiB")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
