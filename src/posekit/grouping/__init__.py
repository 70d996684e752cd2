"""Bottom-up grouping: detected parts -> people.

:mod:`posekit.grouping.paf`: OpenPose's part-affinity-field grouping (peaks by NMS, limbs
scored by the line integral of the field, greedy bipartite matching over a limb tree, then the redundant limbs).
:mod:`posekit.grouping.tags`: Associative Embedding (Newell et al. 2017): its grouping loss, and
joints matched to people by tag and score with the Hungarian algorithm, then refinement.
:mod:`posekit.grouping.ilp`: DeepCut's joint partitioning and labelling ILP (``scipy.optimize.milp``)
and DeeperCut's incremental scheme.
:mod:`posekit.grouping.peaks`: the heatmap NMS both use.
"""

from posekit.grouping.ilp import (
    PairwiseModel, Partition, fit_pairwise, incremental_partition, reliability_stages, solve_partition,
)
from posekit.grouping.paf import find_peaks, group_people, match_limb, score_limb, spanning_tree, tree_first
from posekit.grouping.tags import ae_loss, decode_tags

__all__ = ["solve_partition", "incremental_partition", "Partition", "PairwiseModel", "fit_pairwise",
           "reliability_stages", "find_peaks", "group_people", "match_limb", "score_limb", "spanning_tree", "tree_first",
           "ae_loss", "decode_tags"]
