"""The peer for bench/profile.ts: pandas read_csv + describe(include='all') on the same file.
Prints one JSON line: seconds (read, describe, total) and peak RSS in MiB."""
import json, resource, sys, time
import pandas as pd

path = sys.argv[1]
t0 = time.perf_counter()
df = pd.read_csv(path)
t1 = time.perf_counter()
desc = df.describe(include='all')
t2 = time.perf_counter()
print(json.dumps({
    'read_s': t1 - t0, 'describe_s': t2 - t1, 'total_s': t2 - t0,
    'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    'rows': len(df), 'columns': len(df.columns), 'pandas': pd.__version__,
}))
