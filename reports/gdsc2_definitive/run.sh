#!/usr/bin/env bash
# Run (or resume) the definitive study of reports/gdsc2_definitive/declaration.md in the
# background and commit its compact evidence as cells finish, so the grid (about 10 hours on a
# 2-core CPU) can span sessions: a fresh clone resumes from the committed evidence.
#
#   bash reports/gdsc2_definitive/run.sh            # after the README's set-up command
#   EVERY=600 EXECUTOR=ray bash reports/gdsc2_definitive/run.sh
#
# Logs go to studies/gdsc2_definitive.log; stop with `pkill -f "drp study --preset definitive"`.
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=gdsc2_definitive
STUDY=studies/$NAME
EVIDENCE=reports/$NAME/study
EVERY=${EVERY:-900}
EXECUTOR=${EXECUTOR:-local}

# resume from the committed evidence (records of finished cells, consolidated groups)
if [ -d "$EVIDENCE/cells" ]; then
    mkdir -p "$STUDY/cells"
    cp -n "$EVIDENCE"/cells/*.json "$STUDY/cells/" 2>/dev/null || true
    for f in "$EVIDENCE"/*.parquet "$EVIDENCE"/study.json; do
        [ -f "$f" ] && cp -n "$f" "$STUDY/"
    done
fi

drp study --preset definitive --dataset gdsc2 --name "$NAME" --executor "$EXECUTOR" \
    > "$STUDY.log" 2>&1 &
STUDY_PID=$!

commit_evidence() {
    python - "$STUDY" "$EVIDENCE" <<'EOF'
import sys
from pathlib import Path

from drp.study.evidence import consolidate, export

study, dest = Path(sys.argv[1]), Path(sys.argv[2])
if (study / "cells").is_dir():
    consolidate(study)  # groups.parquet, predictions.parquet from the per-cell files
    export(study, dest)  # study.json, the consolidated files and cells/*.json
EOF
    local n
    n=$(ls "$EVIDENCE"/cells/*.json 2>/dev/null | wc -l)
    git add "$EVIDENCE" && git commit -q -m "Definitive study (issue 26): evidence of $n finished cells" -- "$EVIDENCE" \
        || true  # nothing new, or the index is busy: the next round commits it
}

while kill -0 "$STUDY_PID" 2>/dev/null; do
    sleep "$EVERY"
    commit_evidence
done
wait "$STUDY_PID" || echo "the study stopped with an error: see $STUDY.log (run this again to resume)"
commit_evidence
