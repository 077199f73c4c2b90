"""Parts of the SYNTHETIC evaluation family (``synthetic.evaluation_family``): an analytic orbit and head made
independently of the tuning family (``eye_model``, ``head_model``), for judging accuracy only."""
