"""Architecture search: EvoPose2D's neuroevolution with weight transfer (:mod:`posekit.search.evo`)."""
