"""Which proof justifies which checker rule: the machine-readable form of the table in
``proofs/README.md``.

* :data:`EVIDENCE_KINDS` -- the evidence kinds a certificate may contain; the trusted
  checker (``nnequiv/checker/``) has one ``check_<kind>`` function per kind.
* :data:`CLAIMS` -- one row per proved claim: proof file, machine checks (pytest node
  names relative to ``proofs/``, without parametrisation), checker function and test.
* :data:`PROOF_TABLE` -- ``kind -> {"proofs": [...], "checks": [...], "checker": ...}``,
  derived from :data:`CLAIMS`.  Every evidence kind has an entry.
* :data:`FOUNDATIONS` -- the same for claims every kind relies on (float64 rounding,
  weight radii, composition of passes).

``proofs/check_table.py`` checks that every named proof file and test function exists,
that every machine check in ``proofs/`` is named here, and that the README table names
every claim's checks.  A later test can assert
``set(checker.EVIDENCE_KINDS) <= set(PROOF_TABLE)``.

Checker functions and tests marked ``(planned)`` do not exist yet; the column is
filled in as the code lands.
"""

from __future__ import annotations

from dataclasses import dataclass

EVIDENCE_KINDS: list[str] = [
    "lumping",
    "linear_merge",
    "batchnorm_fold",
    "bias_propagation",
    "channel_removal",
    "affine_fold",
    "stable_relu",
    "bab_tree",
    "permutation",
    "weight_perturbation",
    "composition",
]

# kinds whose ``check_<kind>`` already exists in nnequiv/checker/ (update as the code lands)
IMPLEMENTED_CHECKERS: set[str] = {"bab_tree", "lumping", "batchnorm_fold", "affine_fold", "linear_merge",
                                  "bias_propagation", "channel_removal", "permutation", "weight_perturbation",
                                  "stable_relu", "composition"}

FOUNDATION = "foundation"
PLANNED = " (planned)"


@dataclass(frozen=True)
class Claim:
    claim: str
    proof: str                 # file name inside proofs/
    checks: tuple[str, ...]    # "check_x.py::test_name"
    checker: str               # checker function that applies the rule
    test: str                  # test of that checker function (in tests/)
    kinds: tuple[str, ...]     # evidence kinds that rely on the claim (or FOUNDATION)


def _c(module: str, *names: str) -> tuple[str, ...]:
    return tuple(f"{module}::{name}" for name in names)


def _planned(kind: str) -> tuple[str, str]:
    return f"nnequiv.checker.check_{kind}{PLANNED}", f"tests/test_checker_{kind}.py{PLANNED}"


LUMPING_CHECKER = ("nnequiv.checker.structural.check_lumping; nnequiv.checker.lumping_rewrite.lumping",
                   "tests/test_passes_lump.py; tests/test_passes_lump_conv.py; tests/test_passes_lump_tol.py; "
                   "tests/test_structural_certificates.py")

_SIMPLIFY_TEST = "tests/test_passes_simplify.py; tests/test_simplify_certificates.py"

CLAIMS: list[Claim] = [
    # ------------------------------------------------------------- homogeneity
    Claim("ReLU / LeakyReLU positive homogeneity: sigma(rho z) = rho sigma(z) for rho >= 0",
          "homogeneity.md",
          _c("check_homogeneity.py", "test_relu_positive_homogeneity",
             "test_act_positive_homogeneity_any_slope", "test_leaky_relu_positive_homogeneity",
             "test_homogeneity_extends_to_rho_zero", "test_wrong_relu_negative_rho_fails",
             "test_wrong_leaky_negative_rho_fails", "test_wrong_relu_additive_shift_fails"),
          *LUMPING_CHECKER, ("lumping",)),
    Claim("MaxPool positive homogeneity: max(rho a, rho b) = rho max(a, b) for rho > 0",
          "homogeneity.md",
          _c("check_homogeneity.py", "test_maxpool_positive_homogeneity",
             "test_wrong_maxpool_negative_rho_fails"),
          *LUMPING_CHECKER, ("lumping",)),
    Claim("MaxPool lowered to ReLU layers: max(a, b) = b + relu(a - b), a knock-out tournament per window, "
          "padding left out",
          "maxpool_lowering.md",
          _c("check_maxpool_lowering.py", "test_pair_max_is_b_plus_relu_a_minus_b",
             "test_tournament_rounds_keep_the_maximum", "test_tournament_bookkeeping_matches_max",
             "test_padding_never_wins", "test_wrong_carried_operand_fails", "test_wrong_sum_of_relus_fails",
             "test_wrong_tournament_dropping_the_odd_candidate_fails"),
          "nnequiv.lowering.maxpool.tournament_round; nnequiv.lowering.lower._max_pool",
          "tests/test_maxpool_lowering.py", (FOUNDATION,)),
    # ---------------------------------------------------------------- lumping
    Claim("Proportional lumping of a pair: W_k = rho W_j, b_k = rho b_j, rho > 0, same activation; "
          "drop k, add rho V[:,k] to V[:,j]",
          "lumping.md",
          _c("check_lumping.py", "test_pair_preactivations_proportional_symbolic_width",
             "test_pair_reduction_preserves_next_layer_symbolic_width", "test_pair_lumping_end_to_end",
             "test_multi_member_class_end_to_end", "test_wrong_reduction_missing_rho_factor_symbolic",
             "test_wrong_pair_lumping_negative_rho_fails", "test_wrong_pair_lumping_unscaled_bias_fails",
             "test_wrong_pair_lumping_missing_factor_fails",
             "test_wrong_pair_lumping_different_activations_fails"),
          *LUMPING_CHECKER, ("lumping",)),
    Claim("Class lumping: per-class lambda-weighted incoming sums proportional (previous layer lumped)",
          "lumping.md",
          _c("check_lumping.py", "test_class_lumping_weighted_sums",
             "test_class_lumping_plain_sums_when_previous_classes_are_exact",
             "test_class_quotient_preserves_preactivations",
             "test_wrong_class_lumping_plain_sums_with_proportional_classes_fails",
             "test_wrong_class_lumping_split_class_fails"),
          *LUMPING_CHECKER, ("lumping",)),
    Claim("Conv channel lumping: filter and bias rho > 0 times, through channel-wise positively homogeneous "
          "maps (ReLU, LeakyReLU, MaxPool, AveragePool), into a next Conv or a Gemm after Flatten (blocks of rows)",
          "lumping.md",
          _c("check_lumping.py", "test_conv_channel_proportional_at_every_pixel",
             "test_pooled_channel_lumping_end_to_end", "test_pool_before_activation_commutes_with_scaling",
             "test_next_conv_merge_of_input_channels_symbolic", "test_flatten_gemm_merge_of_channel_blocks_symbolic",
             "test_wrong_maxpool_channel_lumping_negative_rho_fails"),
          "nnequiv.checker.lumping_site.lump_site; nnequiv.checker.lumping_rewrite.lumping",
          "tests/test_passes_lump_conv.py", ("lumping",)),
    Claim("Nearly proportional lumping (--tol): the witness (mixing rho z_j, corrections through j) computes the "
          "lumped network exactly; epsilon = sum of the witness bounds along the layers",
          "lumping.md",
          _c("check_lumping.py", "test_witness_computes_the_target_exactly",
             "test_witness_agrees_with_the_source_when_members_are_proportional",
             "test_wrong_witness_without_member_corrections_fails", "test_wrong_witness_with_negative_rho_fails",
             "test_wrong_dropping_a_nearly_proportional_neuron_as_exact_fails"),
          "nnequiv.checker.lumping_witness.inexact_witness; nnequiv.checker.structural.rewrite_bound",
          "tests/test_passes_lump_tol.py", ("lumping",)),
    # ----------------------------------------------------------- linear merge
    Claim("Linear-combination merge: z_k = sum c_i z_i, c_i >= 0, shared sign => sigma(z_k) = sum c_i sigma(z_i) "
          "(two terms: iff y1 y2 >= 0)",
          "linear_merge.md",
          _c("check_linear_merge.py", "test_two_term_relu_iff_product_nonnegative",
             "test_two_term_leaky_iff_product_nonnegative", "test_shared_sign_merge",
             "test_merge_condition_on_weights_symbolic", "test_merge_end_to_end",
             "test_wrong_merge_without_sign_agreement_fails", "test_wrong_merge_negative_coefficient_fails",
             "test_wrong_merge_bias_not_combined_fails",
             "test_wrong_merge_leaky_without_sign_agreement_fails"),
          "nnequiv.checker.linear_merge.check_linear_merge", "tests/test_passes_merge_linear.py",
          ("linear_merge",)),
    Claim("Mixed-sign merge: any c_i, the z_i AND z_k share a sign => sigma(z_k) = sum c_i sigma(z_i); "
          "for c_i >= 0 z_k's sign is implied",
          "linear_merge.md",
          _c("check_linear_merge.py", "test_mixed_sign_merge_with_the_merged_sign",
             "test_positive_coefficients_give_the_merged_sign", "test_mixed_merge_end_to_end",
             "test_wrong_mixed_merge_ignoring_the_merged_sign_fails"),
          "nnequiv.checker.linear_merge.check_linear_merge", "tests/test_passes_merge_linear.py",
          ("linear_merge",)),
    Claim("Sign condition on a cover: closed sub-boxes covering the box (closed splits) lift it to the box",
          "linear_merge.md",
          _c("check_linear_merge.py", "test_cover_lifts_the_sign_condition_to_the_box",
             "test_wrong_cover_with_an_open_seam_fails"),
          "nnequiv.checker.cover.covers", "tests/test_checker_cover.py", ("linear_merge",)),
    # --------------------------------------------------------- batchnorm fold
    Claim("BatchNorm after Gemm folds: W' = diag(s) W, b' = s (b - mu) + beta, s = gamma / sqrt(v + eps)",
          "batchnorm_fold.md",
          _c("check_batchnorm_fold.py", "test_gemm_fold_matrix_form_symbolic_sizes",
             "test_gemm_fold_per_channel_symbolic_width", "test_gemm_fold_with_square_root",
             "test_wrong_fold_mean_not_scaled_fails", "test_wrong_fold_weight_not_scaled_fails",
             "test_wrong_fold_variance_without_square_root_fails",
             "test_wrong_fold_epsilon_outside_square_root_fails"),
          *_planned("batchnorm_fold"), ("batchnorm_fold",)),
    Claim("BatchNorm after Conv folds per output channel, exact at every pixel (also with padding); "
          "BN BEFORE a padded conv does not fold into a scalar bias",
          "batchnorm_fold.md",
          _c("check_batchnorm_fold.py", "test_conv_fold_every_pixel_including_borders",
             "test_wrong_fold_bn_before_padded_conv_fails"),
          *_planned("batchnorm_fold"), ("batchnorm_fold",)),
    Claim("Radii of the stored BatchNorm scale (3.5 u |s_fl| < 4 u |s_fl|) and shift",
          "batchnorm_fold.md",
          _c("check_batchnorm_fold.py", "test_stored_scale_within_three_and_a_half_u", "test_stored_shift_radius",
             "test_wrong_stored_scale_radius_two_u_fails"),
          "nnequiv.lowering.rules._batchnorm", "tests/test_lowering.py", ("batchnorm_fold", FOUNDATION)),
    # ------------------------------------------------------- bias propagation
    Claim("Dead Gemm neuron (zero incoming weights) removed, V[:,k] sigma(b_k) added to the next bias",
          "bias_propagation.md",
          _c("check_bias_propagation.py", "test_gemm_dead_neuron_symbolic_width",
             "test_gemm_dead_neuron_end_to_end", "test_gemm_zero_outgoing_weights_removal",
             "test_wrong_gemm_dead_neuron_dropped_without_bias_fails",
             "test_wrong_gemm_dead_neuron_bias_not_activated_fails"),
          "nnequiv.checker.structural.check_bias_propagation; nnequiv.checker.simplify_rewrites.bias_propagation",
          _SIMPLIFY_TEST, ("bias_propagation", "channel_removal")),
    Claim("Constant Conv channel: spatial bias exact; scalar bias fold exact only without padding",
          "bias_propagation.md",
          _c("check_bias_propagation.py", "test_conv_dead_channel_is_constant_even_with_padding",
             "test_conv_constant_channel_spatial_bias_is_exact",
             "test_conv_constant_channel_scalar_fold_exact_without_padding",
             "test_wrong_conv_scalar_bias_fold_with_padding_fails_at_border",
             "test_wrong_conv_scalar_bias_fold_z3_counterexample"),
          "nnequiv.checker.simplify_rewrites.Propagator._conv_taps / build", _SIMPLIFY_TEST,
          ("bias_propagation", "channel_removal")),
    # -------------------------------------------------------- channel removal
    Claim("Channel removal through a residual Add: exact iff zero (or constant, folded) on every branch",
          "channel_removal.md",
          _c("check_channel_removal.py", "test_zero_on_every_branch_removal_is_exact",
             "test_constant_on_every_branch_removal_with_bias_fold", "test_sum_must_be_constant_necessity",
             "test_wrong_zero_on_one_branch_only_fails", "test_wrong_constant_channel_without_bias_fold_fails",
             "test_wrong_constant_channel_fold_without_activation_fails"),
          "nnequiv.checker.channels.channel_path / channel_values; nnequiv.checker.removal.remove_channels",
          _SIMPLIFY_TEST, ("channel_removal", "bias_propagation")),
    # --------------------------------------------------------------- simplify
    Claim("A zero-input channel stays constant through the chain: constant Add, BN with a rational root "
          "(or gamma = 0: exactly beta), Relu / LeakyRelu, pooling without counted padding",
          "simplify.md",
          _c("check_simplify.py", "test_per_channel_ops_map_a_constant_to_the_stated_constant",
             "test_batchnorm_of_a_constant_uses_the_exact_root", "test_wrong_batchnorm_without_square_root_fails",
             "test_batchnorm_with_zero_gamma_is_beta_for_any_positive_root",
             "test_wrong_batchnorm_with_zero_gamma_and_zero_root_is_not_beta",
             "test_average_pool_without_counted_padding_keeps_a_constant",
             "test_wrong_average_pool_counting_padding_is_not_constant"),
          "nnequiv.checker.channels.channel_values", _SIMPLIFY_TEST, ("bias_propagation",)),
    Claim("Spatial bias of a constant channel through a padded Conv by border patterns (strides, dilations, "
          "asymmetric pads); a uniform bias is wrong at the border",
          "simplify.md",
          _c("check_simplify.py", "test_spatial_bias_by_border_patterns_equals_the_conv_of_the_constant",
             "test_wrong_uniform_bias_after_padded_conv_is_detected",
             "test_wrong_pattern_ignoring_dilation_is_detected"),
          "nnequiv.checker.simplify_rewrites.Propagator.conv_patterns / _spatial",
          "tests/test_passes_simplify.py::test_constant_channel_into_padded_conv_gets_a_spatial_bias_exact_at_the_borders",
          ("bias_propagation",)),
    Claim("Grouped Conv reader: the constant reaches only its group; Flatten reader: a block of H*W columns; "
          "propagations commute (accumulated, rounded once)",
          "simplify.md",
          _c("check_simplify.py", "test_grouped_reader_constant_reaches_only_its_group",
             "test_wrong_grouped_reader_constant_into_every_output_fails", "test_flatten_block_contribution",
             "test_propagations_in_any_order_give_the_same_bias"),
          "nnequiv.checker.simplify_rewrites.Propagator.fold", _SIMPLIFY_TEST, ("bias_propagation",)),
    Claim("Removal of channels every reader of the channel space weighs with zeros (all residual branches), "
          "with BN parameters; Concat(h, h) and one residual branch are not enough",
          "simplify.md",
          _c("check_simplify.py", "test_removal_through_batchnorm_drops_its_parameters",
             "test_unread_channel_of_a_residual_space_is_removed_from_every_branch",
             "test_wrong_residual_removal_with_a_branch_reader_fails",
             "test_wrong_concat_of_itself_removal_with_one_copy_read_fails",
             "test_wrong_removal_on_one_residual_branch_fails"),
          "nnequiv.checker.structural.check_channel_removal; nnequiv.checker.removal.channel_removal",
          _SIMPLIFY_TEST, ("channel_removal",)),
    # ------------------------------------------------------------ affine fold
    Claim("Affine folding: W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2)",
          "affine_fold.md",
          _c("check_affine_fold.py", "test_two_affine_maps_symbolic_sizes",
             "test_three_affine_maps_symbolic_sizes", "test_two_affine_maps_explicit",
             "test_identity_activation_is_the_identity", "test_wrong_fold_bias_not_propagated_fails",
             "test_wrong_fold_product_order_swapped_fails", "test_wrong_fold_inner_bias_dropped_fails",
             "test_wrong_fold_through_relu_fails"),
          *_planned("affine_fold"), ("affine_fold", "stable_relu")),
    # ------------------------------------------------------------- stable relu
    Claim("Stably inactive neuron (z <= 0 on the box): sigma(z) = s z (ReLU: removed; Leaky: linear neuron); "
          "stably active: identity",
          "stable_relu.md",
          _c("check_stable_relu.py", "test_inactive_neuron_is_linear", "test_active_neuron_is_identity",
             "test_stably_inactive_relu_removed", "test_stably_inactive_leaky_becomes_linear_neuron",
             "test_wrong_inactive_removal_of_unstable_neuron_fails",
             "test_wrong_inactive_leaky_neuron_removed_fails"),
          "nnequiv.checker.stable_relu_evidence.check_stable_relu", "tests/test_passes_stable.py", ("stable_relu",)),
    Claim("Stably active rank reduction: row k = sum c_i row_i (with bias), all involved active => fold",
          "stable_relu.md",
          _c("check_stable_relu.py", "test_stably_active_rank_reduction",
             "test_wrong_rank_reduction_combination_not_active_fails",
             "test_wrong_rank_reduction_bias_not_combined_fails"),
          "nnequiv.checker.stable_relu_evidence.check_stable_relu", "tests/test_passes_stable.py", ("stable_relu",)),
    Claim("Layer collapse: every neuron stable => V D (W h + b) + c is one affine map on the box",
          "stable_relu.md",
          _c("check_stable_relu.py", "test_layer_collapse_symbolic_sizes", "test_layer_collapse_end_to_end",
             "test_wrong_layer_collapse_with_unstable_neuron_fails"),
          "nnequiv.checker.stable_relu_evidence.check_stable_relu", "tests/test_passes_stable.py", ("stable_relu",)),
    Claim("Stability over a split: bounds over covering pieces (weakest piece bound); exact cover check by "
          "cutting at inner faces, midpoint witness otherwise",
          "stable_relu.md",
          _c("check_stable_relu.py", "test_bound_over_a_cover_is_the_weakest_piece_bound",
             "test_region_without_inner_faces_is_covered_only_if_contained", "test_cut_halves_cover_the_region",
             "test_wrong_cover_by_corners_fails", "test_wrong_bound_from_one_piece_only_fails"),
          "nnequiv.checker.cover.uncovered_point / bounds_over", "tests/test_passes_stable.py",
          ("stable_relu",)),
    Claim("LP dual evidence: the checker's triangle LP contains the network on the box; a safe dual "
          "bound <= 0 proves the phase",
          "stable_relu.md",
          _c("check_stable_relu.py", "test_triangle_rows_hold_on_the_graph", "test_stable_rows_hold_on_the_graph",
             "test_dual_bound_below_zero_proves_the_phase", "test_wrong_triangle_beta_from_one_end_only_fails"),
          "nnequiv.checker.lp_dual.triangle_lp / safe_max", "tests/test_passes_stable.py", ("stable_relu",)),
    Claim("Bound refinements: LP bounds over the bounds held for earlier layers, applied in order, keep every "
          "bound valid on the box; claims and duals read the refined bounds",
          "stable_relu.md",
          _c("check_stable_relu.py", "test_refinement_keeps_valid_bounds_valid",
             "test_refined_chain_contains_the_network", "test_wrong_refinement_over_inward_rounded_beta_fails",
             "test_wrong_refinement_reading_its_own_layer_fails"),
          "nnequiv.checker.stable_refine.refine_bounds", "tests/test_stable_refinements.py", ("stable_relu",)),
    Claim("Phase split trees: children z <= 0 / z >= 0 of an earlier Relu neuron cover their parent with its "
          "bound clipped to 0 on that side; LP leaves (S7) over each leaf's bounds lift to the box",
          "phase_tree.md",
          _c("check_phase_tree.py", "test_phase_split_children_cover_the_parent",
             "test_child_bounds_hold_in_the_child",
             "test_child_bounds_make_the_neuron_stable_rows_valid", "test_other_bounds_stay_sound_in_a_child",
             "test_leaf_bound_proves_the_phase_in_the_leaf", "test_leaf_results_lift_to_the_root",
             "test_wrong_active_child_clipping_the_upper_bound_fails",
             "test_wrong_inactive_child_clipping_the_lower_bound_fails", "test_wrong_open_children_miss_the_boundary",
             "test_wrong_tree_with_an_unproved_leaf_fails"),
          "nnequiv.checker.phase_tree.tree_proofs / child_bounds; nnequiv.checker.phase_tree_evidence.parse_trees",
          "tests/test_phase_tree.py", ("stable_relu",)),
    # ------------------------------------------------------------------ bounds
    Claim("Interval arithmetic for affine maps (W+ / W- split, centre-radius form)",
          "bounds_interval.md",
          _c("check_bounds_interval.py", "test_affine_interval_positive_negative_split",
             "test_affine_interval_center_radius_form", "test_wrong_affine_interval_without_sign_split_fails",
             "test_wrong_affine_interval_swapped_ends_fails", "test_wrong_center_radius_without_abs_fails"),
          "nnequiv.checker.forms.input_forms / Forms.bounds; nnequiv.solvers.encode.affine_interval",
          "tests/test_diffzono_soundness.py; tests/test_solvers_encode.py", ("bab_tree", "stable_relu")),
    Claim("Monotone activations and MaxPool map intervals to intervals; intersecting sound bounds is sound",
          "bounds_interval.md",
          _c("check_bounds_interval.py", "test_activation_is_monotone", "test_maxpool_interval",
             "test_intersection_of_sound_bounds_is_sound", "test_wrong_monotonicity_with_negative_slope_fails"),
          "nnequiv.solvers.encode.act_interval; nnequiv.checker.diffzono._delta_bounds",
          "tests/test_solvers_encode.py; tests/test_diffzono_soundness.py", ("bab_tree",)),
    Claim("ReLU / LeakyReLU linear relaxations: triangle / chord upper bound, any line above both ends, "
          "alpha z lower bound",
          "bounds_symbolic.md",
          _c("check_bounds_symbolic.py", "test_relu_triangle_upper_bound", "test_relu_linear_lower_bounds",
             "test_leaky_chord_upper_bound", "test_leaky_linear_lower_bounds",
             "test_chord_upper_bound_any_interval", "test_line_above_both_ends_is_above_on_the_interval",
             "test_wrong_triangle_outside_the_interval_fails",
             "test_wrong_line_above_ends_outside_the_interval_fails",
             "test_wrong_upper_line_through_origin_fails", "test_wrong_lower_slope_above_one_fails",
             "test_wrong_leaky_lower_slope_below_s_fails", "test_wrong_chord_for_concave_activation_fails"),
          "nnequiv.solvers.encode._upper_chord; nnequiv.checker.diff_lp.diff_lp (triangle rows)",
          "tests/test_solvers_encode.py; tests/test_lp_leaves.py", ("bab_tree",)),
    Claim("Zero-neuron embedding: inserting neurons with zero weights, bias, radii and outgoing weights into a "
          "hidden layer leaves the network's real function unchanged (E1)",
          "embedding.md",
          _c("check_embedding.py", "test_zero_neurons_are_exact", "test_two_embedded_layers_are_exact",
             "test_wrong_inserted_neuron_with_bias_and_outgoing_weight_fails",
             "test_wrong_columns_not_following_rows_fails"),
          "nnequiv.checker.embedding.embed; nnequiv.checker.embedding.parse_embedding",
          "tests/test_embedding.py", ("bab_tree",)),
    Claim("CROWN-style backward composition: a linear bound of a linear bound (sign split)",
          "bounds_symbolic.md",
          _c("check_bounds_symbolic.py", "test_backward_step_lower", "test_backward_step_upper",
             "test_backward_through_relaxed_activation", "test_linear_bound_of_linear_bound_is_linear_symbolic",
             "test_crown_instance_lower_bound_holds_on_box", "test_wrong_backward_step_without_sign_split_fails",
             "test_wrong_crown_instance_without_sign_split_fails"),
          "not used by the checker yet (a candidate for tighter bab_tree leaves)" + PLANNED,
          "tests/test_checker_crown.py" + PLANNED, ("bab_tree",)),
    Claim("Pre-activation bounds by weak duality on the network graph (any multipliers; 1-D maxima at "
          "l, u and the kink; float products enclosed; cheap rounding up)",
          "dual_bounds.md",
          _c("check_dual_bounds.py", "test_lagrangian_identity_symbolic", "test_relu_neuron_max_at_candidates",
             "test_linear_neuron_max_at_ends", "test_uncertain_mu_bounds", "test_rounding_up_covers_one_ulp",
             "test_wrong_neuron_max_without_kink_fails",
             "test_wrong_uncertain_mu_on_negative_linear_side_fails"),
          "nnequiv.checker.dual_bounds.tighten (called by nnequiv.checker.diffzono.analyze_batch)",
          "tests/test_dual_bounds.py", ("bab_tree",)),
    # ----------------------------------------------------------- differential
    Claim("Differential activation rule: sigma(a + d) - sigma(a) between min(s d, d) and max(s d, d) "
          "(same activation in both networks)",
          "differential.md",
          _c("check_differential.py", "test_relu_difference_between_zero_and_delta",
             "test_leaky_difference_between_s_delta_and_delta", "test_mean_value_slope_in_s_to_one",
             "test_rule_b_relaxation_by_corners", "test_wrong_relu_difference_nonnegative_fails",
             "test_wrong_mean_value_with_different_slopes_fails"),
          "nnequiv.checker.diffzono._activate_delta", "tests/test_diffzono_soundness.py",
          ("bab_tree",)),
    Claim("DeepZ relaxation: 0 <= sigma(z) - lam z <= max((lam - s)(-l), (1 - lam) u), lam in [s, 1]",
          "differential.md",
          _c("check_differential.py", "test_deepz_relaxation", "test_deepz_form_covers_the_gap",
             "test_wrong_deepz_lambda_above_one_fails", "test_wrong_deepz_height_one_sided_fails",
             "test_wrong_deepz_form_radius_one_sided_fails"),
          "nnequiv.checker.diffzono._activate", "tests/test_diffzono_soundness.py", ("bab_tree", "composition")),
    Claim("Difference through an affine layer: W_g d + (W_g - W_f) h_f + (b_g - b_f)",
          "differential.md",
          _c("check_differential.py", "test_difference_through_affine_layer_symbolic",
             "test_wrong_difference_through_affine_layer_fails"),
          "nnequiv.checker.diffzono._delta_affine", "tests/test_diffzono_soundness.py",
          ("bab_tree",)),
    Claim("Affine forms over shared symbols: linear image, bounds, subtraction",
          "differential.md",
          _c("check_differential.py", "test_form_linear_image_error_term", "test_form_bounds",
             "test_shared_symbols_subtract_exactly", "test_wrong_form_error_without_abs_fails"),
          "nnequiv.checker.forms.linear / add / Forms.bounds", "tests/test_diffzono_soundness.py",
          ("bab_tree",)),
    # -------------------------------------------------------------- LP / MILP
    Claim("Safe LP dual bound: c x <= sum_r max(y_r lo_r, y_r hi_r) + sum_j max(r_j l_j, r_j u_j), any y",
          "lp_dual.md",
          _c("check_lp_dual.py", "test_objective_split_identity_symbolic", "test_scalar_product_over_an_interval",
             "test_termwise_bounds_sum_up", "test_safe_dual_upper_bound_end_to_end",
             "test_safe_dual_lower_bound_end_to_end", "test_one_sided_rows_need_nonnegative_multipliers",
             "test_wrong_dual_bound_residual_dropped_fails", "test_wrong_dual_bound_residual_without_max_fails",
             "test_wrong_dual_bound_row_side_ignores_sign_fails",
             "test_wrong_one_sided_row_negative_multiplier_fails"),
          "nnequiv.solvers.safe_bound.safe_upper_bound / safe_lower_bound; nnequiv.checker.lp_dual.safe_max "
          "(stable_relu duals, bab_tree lp leaves)",
          "tests/test_solvers_safe_bound.py; tests/test_passes_stable.py", ("bab_tree", "stable_relu")),
    Claim("Differential LP of a leaf: affine rows, triangle rows (any slope, beta above both ends), split "
          "bounds and mean-value difference cuts d <= a delta + beta over [min(dl, 0), max(du, 0)] hold for "
          "every point of the region",
          "diff_lp.md",
          _c("check_diff_lp.py", "test_triangle_row_holds_for_any_slope", "test_triangle_row_stable_cases",
             "test_relu_difference_is_a_mean_value", "test_difference_upper_cut", "test_difference_lower_cut",
             "test_difference_cuts_for_linear_pairs", "test_phase_split_bounds",
             "test_wrong_difference_cut_without_zero_in_range_fails",
             "test_wrong_difference_cut_for_different_activations_fails"),
          "nnequiv.checker.diff_lp.diff_lp; nnequiv.checker.bab_tree._lp_leaf_value",
          "tests/test_lp_leaves.py", ("bab_tree",)),
    Claim("Big-M ReLU / LeakyReLU encoding is exact given sound bounds l <= z <= u (also with rounded-up M)",
          "big_m.md",
          _c("check_big_m.py", "test_relu_milp_contains_the_graph", "test_relu_milp_solutions_are_on_the_graph",
             "test_leaky_milp_exact", "test_leaky_milp_exact_symbolic_slope",
             "test_enlarged_big_m_constants_stay_exact", "test_wrong_bounds_not_containing_z_fails",
             "test_wrong_lower_bound_not_containing_z_fails", "test_wrong_relaxed_binary_is_not_exact_fails",
             "test_wrong_big_m_constant_too_small_fails", "test_wrong_relu_encoding_for_leaky_fails"),
          "nnequiv.solvers.encode._activation (the untrusted MILP violation search: no certificate relies on it)",
          "tests/test_solvers_encode.py", ("bab_tree",)),
    # ------------------------------------------------------------------ top-1
    Claim("Top-1 agreement: positive margins in both networks, or margin 2 eps (uniform), eps_i + eps_j, "
          "or pairwise difference bounds; softmax preserves the order",
          "top1.md",
          _c("check_top1.py", "test_direct_margins_in_both_networks", "test_uniform_margin_two_epsilon",
             "test_per_class_margin", "test_pairwise_difference_margin",
             "test_exact_equivalence_preserves_argmax_sets", "test_softmax_preserves_order",
             "test_wrong_top1_from_one_network_only_fails",
             "test_wrong_margin_epsilon_instead_of_two_epsilon_fails", "test_wrong_non_strict_margin_fails",
             "test_wrong_pairwise_margin_with_upper_bound_fails", "test_wrong_softmax_order_identity_fails"),
          "nnequiv.checker.leaf._top1", "tests/test_checker_leaf.py" + PLANNED, ("bab_tree",)),
    Claim("Top-1 pairwise agreement (T3): same strict order or identical difference for every pair "
          "gives equal maximal-class sets, ties included",
          "top1.md",
          _c("check_top1.py", "test_pairwise_agreement_gives_equal_maximal_sets",
             "test_wrong_pairwise_agreement_non_strict_fails"),
          "nnequiv.checker.leaf._pairs_agree", "tests/test_check_engine.py::test_network_against_itself_exact_and_top1",
          ("bab_tree",)),
    Claim("Softmax is 1/2-Lipschitz in the inf-norm: eps on logits gives eps / 2 on probabilities",
          "top1.md",
          _c("check_top1.py", "test_softmax_jacobian_entries", "test_softmax_jacobian_row_sums_at_most_one_half",
             "test_wrong_softmax_lipschitz_one_quarter_fails"),
          "nnequiv.checker.leaf._deviation (SOFTMAX_LIPSCHITZ)", "tests/test_checker_leaf.py" + PLANNED,
          ("bab_tree",)),
    # ---------------------------------------------------------------- BaB tree
    Claim("Branch-and-bound: bisection and phase splits cover their parent; infeasible leaves are empty; "
          "leaf results lift to the root",
          "bab_tree.md",
          _c("check_bab_tree.py", "test_bisection_covers_for_any_split_point",
             "test_phase_split_covers_and_linearises", "test_infeasible_phase_leaf_is_empty",
             "test_leaf_results_lift_to_the_root", "test_wrong_open_bisection_misses_the_split_point",
             "test_wrong_bisection_with_gap_fails", "test_wrong_infeasibility_with_non_strict_bound_fails",
             "test_wrong_missing_leaf_fails"),
          "nnequiv.checker.bab_tree.check_bab_tree; nnequiv.checker.diffzono._phases",
          "tests/test_checker_bab_tree.py" + PLANNED, ("bab_tree",)),
    # ------------------------------------------------------- structural match
    Claim("Permutation of a layer's neurons / channels (producer rows, per-channel parameters, consumer "
          "columns; Flatten blocks) through channel-wise ops is exact",
          "structural_match.md",
          _c("check_structural_match.py", "test_permutation_commutes_with_an_elementwise_activation",
             "test_permuted_layer_pair_is_the_same_function_symbolic", "test_permuted_mlp_end_to_end_exact",
             "test_flatten_turns_a_channel_permutation_into_column_blocks", "test_maxpool_acts_channel_by_channel",
             "test_wrong_permuting_rows_without_the_consumer_columns_fails",
             "test_wrong_flatten_permutation_of_single_columns_fails"),
          "nnequiv.checker.permutation.check_permutation",
          "tests/test_structural_match.py::test_permuted_cnn_channels_through_pool_and_flatten", ("permutation",)),
    Claim("Permutation of a whole channel stream through residual Adds (every producer summed into it: rows; "
          "every reader: columns; channel-wise ops in between) is exact",
          "structural_match.md",
          _c("check_structural_match.py", "test_permuted_stream_through_residual_adds_is_the_same_function",
             "test_sum_of_permuted_operands_is_the_permuted_sum", "test_wrong_permuting_only_the_main_branch_fails"),
          "nnequiv.checker.permutation.check_permutation",
          "tests/test_structural_residual.py::test_consistently_permuted_residual_pair_is_decided_exactly",
          ("permutation",)),
    Claim("Weight perturbation: |z_f - z_g| <= (|W_f| + R_f) D + (|W_f - W_g| + R_f + R_g) M + |b_f - b_g| + rb; "
          "1-Lipschitz activations, MaxPool, Add, average; same graph and weights => same function",
          "structural_match.md",
          _c("check_structural_match.py", "test_difference_through_a_linear_layer_identity", "test_product_bound",
             "test_linear_difference_bound", "test_linear_difference_bound_with_weight_radii",
             "test_enclosure_of_a_linear_layer_with_uncertain_weights",
             "test_activation_difference_is_one_lipschitz_and_zero_when_both_inactive", "test_maxpool_difference",
             "test_wrong_linear_bound_without_the_weight_gap_fails",
             "test_wrong_leaky_slope_above_one_is_not_lipschitz_one",
             "test_wrong_both_inactive_with_only_g_inactive_fails"),
          "nnequiv.checker.perturbation.check_weight_perturbation",
          "tests/test_structural_match.py::test_perturbation_bound_is_sound_by_sampling",
          ("weight_perturbation", "composition")),
    Claim("BatchNorm absorbed into the layer before it as an enclosure: |W s - fl(W s_fl)| <= |W| R_s + 2u |fl| + ETA",
          "structural_match.md",
          _c("check_structural_match.py", "test_absorbed_weight_radius",
             "test_wrong_absorbed_weight_radius_without_scale_radius_fails"),
          "nnequiv.checker.graph_align._absorb_batchnorm",
          "tests/test_structural_match.py::test_torch_batchnorm_fold_within_a_proved_epsilon",
          ("weight_perturbation",)),
    Claim("An Add of a per-channel constant after a Conv/Dense stage is absorbed into its last additive parameter "
          "when the float64 sum is exact (TwoSum error 0); bias radius rb + u |fl(b + c)|",
          "structural_match.md",
          _c("check_structural_match.py", "test_added_constant_is_absorbed_into_the_last_additive_parameter",
             "test_two_sum_error_zero_means_the_float_sum_is_the_real_sum", "test_added_constant_bias_radius",
             "test_wrong_absorbing_an_inexact_sum_as_exact_fails"),
          "nnequiv.checker.graph_align._absorb_constant",
          "tests/test_structural_match.py::test_added_per_channel_constant_is_absorbed_into_the_layer_exactly",
          ("weight_perturbation",)),
    Claim("Float slack: a nonnegative expression of at most 100 roundings times 1 + 2^-40, rounded up, is an upper bound",
          "structural_match.md",
          _c("check_structural_match.py", "test_generous_factor_covers_a_hundred_roundings",
             "test_wrong_generous_factor_for_a_billion_roundings_fails"),
          "nnequiv.checker.graph_align.generous",
          "tests/test_structural_match.py::test_perturbation_bound_is_sound_by_sampling",
          ("weight_perturbation",)),
    # ------------------------------------------------------------ composition through a cut
    Claim("Shared prefix and suffix: identical node lists compute the same function; a middle proved on a box "
          "containing the prefix's output lifts to the box (exact; top-1 only without a suffix)",
          "cut_composition.md",
          _c("check_cut_composition.py", "test_exact_middle_on_the_enclosure_gives_an_exact_whole",
             "test_middle_bound_on_the_enclosure_lifts_through_the_suffix",
             "test_wrong_middle_proved_on_a_box_missing_the_prefix_output_fails",
             "test_wrong_top1_middle_through_a_suffix_fails"),
          "nnequiv.checker.composition.check_composition; nnequiv.checker.cut.split / first_difference",
          "tests/test_composition.py", ("composition",)),
    Claim("Suffix Lipschitz bound in the inf-norm: (|W| + R) row sums, 1-Lipschitz activations (slope in [0, 1]), "
          "MaxPool, average, Add; the step's epsilon L eps' compared exactly",
          "cut_composition.md",
          _c("check_cut_composition.py", "test_affine_term_lipschitz_with_weight_radius", "test_termwise_bounds_sum_up",
             "test_wrong_lipschitz_without_abs_values_fails", "test_relu_and_leaky_relu_are_one_lipschitz",
             "test_wrong_leaky_relu_with_slope_above_one_fails",
             "test_maxpool_average_and_add_propagate_the_element_bounds", "test_suffix_chain_end_to_end",
             "test_step_epsilon_from_the_checked_quantities", "test_wrong_lipschitz_below_the_checkers_bound_fails",
             "test_upward_rounded_product_bounds_the_real_product",
             "test_wrong_float_product_without_upward_rounding_fails"),
          "nnequiv.checker.cut_bounds.suffix_lipschitz; nnequiv.checker.composition.check_composition",
          "tests/test_composition.py", ("composition",)),
    # ------------------------------------------------------------ foundations
    Claim("Float64 rounding: |theta_n| <= gamma_n = n u / (1 - n u) (Higham, Lemma 3.1)",
          "rounding.md",
          _c("check_rounding.py", "test_theta_lemma_induction_step", "test_gamma_is_monotone",
             "test_theta_lemma_direct", "test_wrong_theta_bound_nu_instead_of_gamma_fails"),
          "nnequiv.checker.rounding.gamma", "proofs/check_rounding.py", (FOUNDATION,)),
    Claim("Dot-product error |fl(sum a_i b_i) - sum a_i b_i| <= gamma_n sum |a_i b_i| + underflow term, "
          "any summation order, with or without FMA",
          "rounding.md",
          _c("check_rounding.py", "test_every_summation_tree_has_at_most_n_roundings_per_term",
             "test_fma_chains_have_at_most_n_roundings_per_term", "test_product_term_bound",
             "test_dot_product_error_bound_from_theta",
             "test_dot_product_bound_on_random_vectors_exact_arithmetic",
             "test_wrong_dot_bound_one_rounding_only_fails", "test_wrong_dot_bound_without_underflow_term_fails"),
          "nnequiv.solvers.safe_bound (facts 1-3)", "tests/test_solvers_safe_bound.py", (FOUNDATION,)),
    Claim("Implementation allowance 2 gamma(n+2) fl(|a| |b|) + (n+2) 2^-1074; rounding primitives are upper bounds",
          "rounding.md",
          _c("check_rounding.py", "test_implementation_dot_product_allowance",
             "test_checker_rounding_primitives_are_upper_bounds",
             "test_wrong_implementation_allowance_without_floor_fails"),
          "nnequiv.checker.forms.linear; nnequiv.lowering.affine.Affine.then; nnequiv.checker.rounding",
          "proofs/check_rounding.py; tests/test_diffzono_soundness.py", (FOUNDATION,)),
    Claim("Outward rounding of decimal box bounds contains the real value",
          "rounding.md",
          _c("check_rounding.py", "test_outward_rounded_decimal_contains_the_real_value",
             "test_wrong_decimal_bounds_without_outward_rounding_fail"),
          "nnequiv.spec.box.round_down / round_up", "tests/test_spec_box.py", (FOUNDATION,)),
    Claim("Weight / bias radii: W* in [W - R, W + R] => |W* h - W h| <= R |h|; radii of rounded constants",
          "pwl_radius.md",
          _c("check_pwl_radius.py", "test_weight_radius_perturbation", "test_weight_radius_with_magnitude_bound",
             "test_bias_radius", "test_reciprocal_radius", "test_square_root_relative_error",
             "test_wrong_weight_radius_without_abs_fails", "test_wrong_weight_radius_ignored_fails",
             "test_wrong_reciprocal_radius_too_small_fails", "test_wrong_square_root_error_quartered_fails"),
          "nnequiv.checker.forms.linear (matrix_rad), add_bias (bias_rad); nnequiv.lowering.affine.Affine",
          "tests/test_diffzono_soundness.py; tests/test_lowering.py", (FOUNDATION,)),
    Claim("One rounding is within u |fl(x)| when fl(x) is normal (Div by a constant); not for subnormal results",
          "pwl_radius.md",
          _c("check_pwl_radius.py", "test_single_rounding_relative_to_the_stored_float",
             "test_single_rounding_relative_to_the_stored_float_exact_samples",
             "test_wrong_single_rounding_for_subnormal_results_fails"),
          "nnequiv.lowering.rules._reciprocal_radius", "tests/test_lowering.py", (FOUNDATION,)),
    Claim("Composition of certified passes: deviation bounds add along a chain; exact steps stay exact",
          "composition.md",
          _c("check_composition.py", "test_deviation_bounds_add_along_a_chain", "test_exact_steps_compose_to_exact",
             "test_uniform_bound_from_per_component_bounds", "test_wrong_composition_with_max_instead_of_sum_fails",
             "test_wrong_composition_last_step_only_fails"),
          "nnequiv.checker.verification.verify", "tests/test_checker_verification.py" + PLANNED,
          (FOUNDATION,)),
    # ------------------------------------------- rigorous point evaluation (counterexample confirmation)
    Claim("Rigorous point evaluation, error-free steps: TwoSum, compress (sum = limbs + dropped carries <= err), "
          "Veltkamp half-products exact above 2^-1021 (else ETA each)",
          "rigorous_eval.md",
          _c("check_rigorous_eval.py", "test_two_sum_is_error_free", "test_compress_keeps_the_sum_within_err",
             "test_veltkamp_halves_have_26_bits_and_products_are_exact",
             "test_wrong_product_without_underflow_allowance_fails"),
          "nnequiv.rigorous.expansion.compress; nnequiv.rigorous.expansion.exact_products",
          "tests/test_rigorous_eval.py", (FOUNDATION,)),
    Claim("Ozaki splitting: beta-bit row-aligned slices sum to the row; slice products exact in any BLAS order "
          "when 2 beta + ceil(log2 k) <= 53; skipped pairs and remainders bounded by k max|a| max|b|",
          "rigorous_eval.md",
          _c("check_rigorous_eval.py", "test_slices_have_beta_bits_and_sum_to_the_row",
             "test_slice_products_are_exact", "test_exact_matmul_bound_contains_the_product",
             "test_wrong_slice_one_bit_too_wide_fails"),
          "nnequiv.rigorous.ozaki.exact_matmul; nnequiv.rigorous.rules_linear.linear",
          "tests/test_rigorous_eval.py", (FOUNDATION,)),
    Claim("Enclosure rules: product by a constant enclosure (rx (|mc| + rc) + |mx| rc), BatchNorm sqrt by isqrt, "
          "rational constants as limbs, MaxPool by the widened chosen element",
          "rigorous_eval.md",
          _c("check_rigorous_eval.py", "test_scale_radius_formula", "test_sqrt_interval_contains_the_root",
             "test_constant_limbs_enclose_the_rational", "test_maxpool_enclosure",
             "test_wrong_scale_radius_without_constant_radius_fails", "test_wrong_maxpool_without_widening_fails"),
          "nnequiv.rigorous.expansion.scale; nnequiv.rigorous.rules_pointwise",
          "tests/test_rigorous_eval.py", (FOUNDATION,)),
]


def _table(kind: str) -> dict:
    rows = [c for c in CLAIMS if kind in c.kinds]
    return {
        "proofs": sorted({c.proof for c in rows}),
        "checks": [check for c in rows for check in c.checks],
        "checker": f"check_{kind}" if kind != FOUNDATION else None,
    }


PROOF_TABLE: dict[str, dict] = {kind: _table(kind) for kind in EVIDENCE_KINDS}
FOUNDATIONS: dict = _table(FOUNDATION)

PROOF_FILES: list[str] = sorted({c.proof for c in CLAIMS})


def _code(text: str) -> str:
    """``a; b (planned)`` -> ```a`; `b` (planned)``."""
    parts = []
    for part in text.split("; "):
        planned = part.endswith(PLANNED)
        name = part.removesuffix(PLANNED)
        parts.append(f"`{name}`" + (" (planned)" if planned else ""))
    return "; ".join(parts)


def markdown_table() -> str:
    """The claims table of ``proofs/README.md`` (regenerate with ``python -m proofs.registry``)."""
    lines = ["| claim | proof file | machine check | checker function | test |",
             "|---|---|---|---|---|"]
    for claim in CLAIMS:
        modules: dict[str, list[str]] = {}
        for check in claim.checks:
            module, name = check.split("::")
            modules.setdefault(module, []).append(f"`{name}`")
        checks = "<br>".join(f"`{m}`: " + ", ".join(names) for m, names in modules.items())
        text = claim.claim.replace("|", "\\|")
        lines.append(f"| {text} | [`{claim.proof}`]({claim.proof}) | {checks} | "
                     f"{_code(claim.checker)} | {_code(claim.test)} |")
    return "\n".join(lines) + "\n"


def kinds_table() -> str:
    """Evidence kind -> proof files and checker function, for ``proofs/README.md``."""
    lines = ["| evidence kind | checker function | proof files |", "|---|---|---|"]
    for kind, entry in PROOF_TABLE.items():
        proofs = ", ".join(f"[`{p}`]({p})" for p in entry["proofs"])
        status = "" if kind in IMPLEMENTED_CHECKERS else " (planned)"
        lines.append(f"| `{kind}` | `{entry['checker']}`{status} | {proofs} |")
    proofs = ", ".join(f"[`{p}`]({p})" for p in FOUNDATIONS["proofs"])
    lines.append(f"| (every kind) | -- | {proofs} |")
    return "\n".join(lines) + "\n"


def readme_block() -> str:
    """Everything between the ``<!-- registry:begin -->`` / ``<!-- registry:end -->`` markers."""
    return kinds_table() + "\n" + markdown_table()


if __name__ == "__main__":
    print(readme_block(), end="")
