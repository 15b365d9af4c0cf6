# threat: a thread started at import prints every millisecond while the gates are graded
# exercise: -
import sys
import threading
import time


def _report_progress():
    while True:
        print("training... loss still going down")
        sys.stdout.flush()
        time.sleep(0.001)


threading.Thread(target=_report_progress, daemon=True).start()
