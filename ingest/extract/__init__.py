"""The extracts: Salesforce objects into ``raw_salesforce`` (``salesforce``), Act-On into ``raw_acton``
(``acton``, with the guard on opt-ins inferred from the opt-out list in ``optout_holds``), each step reporting an
``ExtractResult`` (``results``)."""
