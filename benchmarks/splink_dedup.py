"""splink on the benchmark's CSV, for comparison (run by bench_dedup.py in its own process
when splink is installed: `pip install splink`). Prints one JSON line: pairs, time, memory.

Settings comparable to our engine: the same blocking ideas (phone; site and family name;
site and given name; family and given name), comparisons on names (Jaro-Winkler), sex,
age, phone (Damerau-Levenshtein), site, origin, date, GPS distance, household size and the
members' ages (exact), m by EM, u by random sampling, and a match probability of 0.5.

These settings are a first attempt, not tuned: on the generated 5,000 they give F1 about
0.43, far below what issue 14 reports for a tuned splink (0.91). Read splink's line in the
benchmark as "splink as configured here", not as splink's best.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import pandas as pd
import splink
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

start = time.perf_counter()
frame = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
frame = frame.rename(columns={"record_id": "unique_id"})
for column in frame.columns:
    frame[column] = frame[column].replace("", None)
frame["phone"] = frame["phone"].str.replace(r"\D", "", regex=True).str[-9:]
frame["age"] = pd.to_numeric(frame["age"], errors="coerce")
frame["household_size"] = pd.to_numeric(frame["household_size"], errors="coerce")
frame["lat"] = pd.to_numeric(frame["lat"], errors="coerce")
frame["lon"] = pd.to_numeric(frame["lon"], errors="coerce")
for column in ("head_given_name", "head_family_name"):
    frame[column] = frame[column].str.lower().str.strip()

settings = SettingsCreator(
    link_type="dedupe_only",
    blocking_rules_to_generate_predictions=[
        block_on("phone"),
        block_on("site_id", "head_family_name"),
        block_on("site_id", "head_given_name"),
        block_on("head_given_name", "head_family_name"),
    ],
    comparisons=[
        cl.JaroWinklerAtThresholds("head_given_name", [0.92, 0.8]).configure(
            term_frequency_adjustments=True
        ),
        cl.JaroWinklerAtThresholds("head_family_name", [0.92, 0.8]).configure(
            term_frequency_adjustments=True
        ),
        cl.ExactMatch("sex"),
        cl.ExactMatch("age"),
        cl.DamerauLevenshteinAtThresholds("phone", [1]),
        cl.ExactMatch("site_id"),
        cl.ExactMatch("origin_district"),
        cl.AbsoluteDateDifferenceAtThresholds(
            "registration_date", input_is_string=True, metrics=["day", "day"], thresholds=[7, 30]
        ),
        cl.DistanceInKMAtThresholds("lat", "lon", [0.1, 1, 10]),
        cl.ExactMatch("household_size"),
        cl.ExactMatch("members_ages"),
    ],
)
linker = Linker(DuckDBAPI().register(frame), settings)  # splink 5: register, then link
linker.training.estimate_probability_two_random_records_match(
    [block_on("phone", "head_family_name"), block_on("site_id", "head_given_name", "age")],
    recall=0.6,
)
linker.training.estimate_u_using_random_sampling(max_pairs=2e6)
for rule in (block_on("site_id", "head_family_name"), block_on("phone")):
    linker.training.estimate_parameters_using_expectation_maximisation(rule)
predictions = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
print(
    json.dumps(
        {
            "version": splink.__version__,
            "pairs": predictions[["unique_id_l", "unique_id_r"]].values.tolist(),
            "wall_s": time.perf_counter() - start,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )
)
