// The cache around every step that writes files: look the step's record up, reuse its
// output when the store still has it, else run the step into a new snapshot and remember.
#include "builder/stage.hpp"

namespace strata::builder {

void StageBuild::apply_step(const parser::Instruction& step, ImageState& state, const nlohmann::json& record,
                            const std::function<void(TempDir& snapshot)>& produce) {
    const std::string key = cache_key(record);
    std::optional<StepOutput> output;
    if (!build.options.no_cache) output = cache_lookup(build.store, key);
    if (output) {
        build.progress.step_cached(current_);
    } else {
        build.progress.step_running(current_);
        output = produce_output(state, produce);
        cache_remember(build.store, key, record, *output);
    }
    if (output->layer) state.add_layer(*output->layer, output->diff_id, output->chain_id);
    state.created = std::max(state.created, output->created);  // RFC 3339 UTC of one shape: text order is time order
    state.add_history(step.original, !output->layer);
}

StepOutput StageBuild::produce_output(const ImageState& state, const std::function<void(TempDir&)>& produce) {
    TempDir snapshot = build.store.new_snapshot_staging();
    produce(snapshot);
    StepOutput output;
    output.created = epoch_time_or(now_rfc3339());
    output.chain_id = state.top_chain_id();
    if (fs::is_empty(snapshot.path())) return output;  // the step changed nothing: no layer
    store::LayerOptions layer_options;
    layer_options.source_date_epoch = build.options.source_date_epoch;
    const store::Layer layer = build.store.write_layer(snapshot.path(), layer_options);
    output.layer = layer.descriptor;
    output.diff_id = layer.diff_id;
    output.chain_id = state.top_chain_id().empty() ? layer.diff_id : store::next_chain_id(state.top_chain_id(), layer.diff_id);
    build.store.commit_snapshot(std::move(snapshot), output.chain_id);
    return output;
}

} // namespace strata::builder
