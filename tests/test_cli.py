"""The command-line entry point."""

from __future__ import annotations

from click.testing import CliRunner

from deltastream.cli import main


def test_price_demo_prints_a_chain_with_solved_ivs():
    result = CliRunner().invoke(main, ["price", "--spot", "100", "--strike-step", "5",
                                       "--strikes", "5", "--days", "30", "--vol", "0.2"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.strip()[:1].isdigit()]
    assert [float(r.split()[0]) for r in rows] == [90.0, 95.0, 100.0, 105.0, 110.0]
    # The IV solved back from each call price is the input volatility.
    assert all(r.split()[2] == "0.2000" for r in rows)


def test_price_demo_rejects_out_of_range_input():
    result = CliRunner().invoke(main, ["price", "--strikes", "0"])
    assert result.exit_code == 2
    assert "--strikes" in result.output
