"""Every generated prompt and number clip is read by the sandbox's Asterisk itself."""

from __future__ import annotations

from ivr.prompts import load_texts
from devtools import sandbox


def test_asterisk_reads_every_generated_prompt(sandbox_paths) -> None:
    names = [name for name, _ in load_texts().files()]
    assert len(names) > 40
    for name in names:
        assert (sandbox_paths.sounds / f"{name}.wav").exists(), name
        out = f"/tmp/hotline-prompt-check-{name.replace('/', '-')}.gsm"
        said = sandbox.cli(sandbox_paths, f"file convert /usr/share/asterisk/sounds/{name}.wav {out}")
        assert said.startswith("Converted"), (name, said)
        converted = sandbox_paths.root / out.lstrip("/")
        assert converted.stat().st_size > 330, name  # more than ~0.1 s of GSM (33 bytes / 20 ms)
        converted.unlink()
