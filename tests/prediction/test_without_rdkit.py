"""Training and predicting known drugs need no RDKit (a GPU machine may lack it): only
featurisation, new SMILES and screens import it."""

import subprocess
import sys
import textwrap

from tests.conftest import make_dataset, write_fixture_tables


def test_train_evaluate_and_predict_known_pairs_without_rdkit(tmp_path):
    make_dataset(write_fixture_tables(tmp_path / "tables")).save(tmp_path / "ds")
    script = textwrap.dedent(
        f"""
        import sys

        class NoRDKit:
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] == "rdkit":
                    raise ImportError("rdkit is not installed here")

        sys.meta_path.insert(0, NoRDKit())
        import torch
        torch.set_num_threads(1)
        import drp
        config = {{"model": {{"hidden": 16}},
                  "train": {{"dataset": {str(tmp_path / "ds")!r}, "epochs": 1, "k": 3,
                            "split": "drug_blind", "prior_auxiliary": ""}}}}
        run = drp.train(config, {str(tmp_path / "run")!r}, device="cpu")
        known = drp.load_run(run.path).predict(cells=["CELL-00"], drugs=["aspirin"])
        assert len(known) == 1
        table = drp.evaluate([run.path], baselines=["cell_mean"])
        assert "rdkit" not in sys.modules
        print("ok", float(known.ln_ic50_pred.iloc[0]), len(table))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok ")
