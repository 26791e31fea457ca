"""The pricing join: cost figures from the span scan's token sums and the matched prices.

The span scan groups spans by the model they are priced by (``priced_as``) and sums, per group, the
tokens of spans that need a price (LLM spans with usage and no stored cost). A price is one number per
group, so ``sum(tokens x price) = price x sum(tokens)``: prices are applied here, to a few dozen rows,
and the scan needs no prices (and no second pass to learn which models to price).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from .pricing import Price

__all__ = ["price_usage"]


def price_usage(groups: pd.DataFrame, prices: Mapping[str, Price]) -> pd.DataFrame:
    """``groups`` (span-scan rows keyed by ``priced_as``) with cost columns added.

    * ``n_computed`` / ``computed_usd``: spans needing a price whose model has one, and their cost
      (prompt x input price + completion x output price);
    * ``n_unpriced``: spans needing a price whose model has none (cost 0, listed as unpriced);
    * ``cost_spans``: spans with a cost figure (stored, computed, unpriced or LLM without usage);
    * ``d_cost``: cost by the dashboard's rule (stored cost, else each part stored or priced).
    """
    out = groups.copy()
    price_in = out["priced_as"].map({m: p.input_per_token for m, p in prices.items()})
    price_out = out["priced_as"].map({m: p.output_per_token for m, p in prices.items()})
    priced = price_in.notna()
    pin, pout = price_in.fillna(0.0).astype("float64"), price_out.fillna(0.0).astype("float64")
    needs = out["n_needs_price"].astype("int64")
    out["n_computed"] = needs.where(priced, 0)
    out["n_unpriced"] = needs.where(~priced, 0)
    out["computed_usd"] = (out["np_prompt"].astype("float64") * pin
                           + out["np_completion"].astype("float64") * pout).where(priced, 0.0)
    out["cost_spans"] = out["n_stored"].astype("int64") + needs + out["n_no_usage"].astype("int64")
    out["d_cost"] = (out["stored_usd"].astype("float64") + out["d_price_prompt"].astype("float64") * pin
                     + out["d_price_completion"].astype("float64") * pout)
    return out
