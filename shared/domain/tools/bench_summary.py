#!/usr/bin/env python3
"""Print `make bench` results as a table: verify+parse next to its floor, and the gate."""
import json
import pathlib

root = pathlib.Path(__file__).resolve().parents[3] / "target" / "criterion"


def mean_ns(group: str, bench: str) -> float | None:
    path = root / group / bench / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["mean"]["point_estimate"]


print("\nwebhook: per event, verify+parse vs floor (HMAC-SHA256 + serde IgnoredAny)")
print(f"{'updates':>8} {'floor':>12} {'polite':>12} {'ratio':>7}")
for n in (1, 10, 100):
    floor = mean_ns(f"webhook_{n}", f"floor/{n}")
    ours = mean_ns(f"webhook_{n}", f"verify_parse/{n}")
    if floor and ours:
        print(f"{n:>8} {floor / n / 1000:>9.2f} µs {ours / n / 1000:>9.2f} µs {ours / floor:>6.2f}x")

print("\nwebhook-intake: events/s vs the floor's (queues stubbed)")
print(f"{'updates':>8} {'floor/s':>12} {'route+enc/s':>12} {'share':>6} {'handler/s':>12} {'share':>6}")
for n in (1, 10, 100):
    floor = mean_ns(f"webhook_{n}", f"floor/{n}")
    core = mean_ns(f"intake_{n}", f"verify_route_encode/{n}")
    ours = mean_ns(f"intake_{n}", f"handler/{n}")
    if floor and core and ours:
        print(f"{n:>8} {n * 1e9 / floor:>12,.0f} {n * 1e9 / core:>12,.0f} {floor / core:>6.0%}"
              f" {n * 1e9 / ours:>12,.0f} {floor / ours:>6.0%}")

print("\ngate decisions")
for base in ("send_single_zone", "defer_single_zone", "defer_eight_zones"):
  for case in (base, base + "_fresh_number"):
    ns = mean_ns("gate", case)
    if ns:
        print(f"  {case:<32} {ns / 1000:>8.2f} µs  ({1e9 / ns:>10,.0f} decisions/s)")
