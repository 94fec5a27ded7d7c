import subprocess, sys, time, socket, tempfile, os
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, '/work/main')
import service.delivery as d
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
out = tempfile.mktemp()
rx = subprocess.Popen([sys.executable, "/work/main/perf/webhook_receiver.py", str(port), out])
time.sleep(1)
body = b'{"tenant":"t","seq":1,"data":{"recorded_at":"x"}}' + b' ' * 900
headers = {"content-type": "application/json", "webhook-id": "msg_1"}
url = f"http://127.0.0.1:{port}/hooks"
def run(keep, n=3000, threads=16):
    d.KEEP_PER_ADDRESS = 32 if keep else 0
    sender = d.Sender(allow_private=True)
    t = time.perf_counter(); c = time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        outs = list(pool.map(lambda i: sender.post(url, body, headers), range(n)))
    el = time.perf_counter() - t; cpu = time.process_time() - c
    sender.close()
    assert all(o.delivered for o in outs), [o for o in outs if not o.delivered][:2]
    return n / el, cpu / n * 1e6
for r in range(3):
    for keep in (False, True):
        rate, cpu = run(keep)
        print(f"keep={keep}: {rate:,.0f} posts/s, {cpu:.0f} us CPU per post (sender process)")
rx.terminate(); os.unlink(out)
