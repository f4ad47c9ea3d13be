// The cache around every step that writes files: look the step's record up, reuse its
// output when the store still has it, else run the step into a new snapshot and remember.
// Every step also leaves what it was built from at its place in the Buildfile, so that a
// later `build --explain` can say why it missed (explain.hpp).
#include "builder/explain.hpp"
#include "builder/stage.hpp"
#include "store/layer_blobs.hpp"

namespace strata::builder {

namespace {

StepIdentity identity_of(const BuildOptions& options, const parser::Stage& stage, const StepRef& step) {
    StepIdentity id;
    id.buildfile = options.buildfile_path.empty() ? "<stdin>" : fs::absolute(options.buildfile_path).lexically_normal().string();
    id.stage = step.stage;
    id.stage_index = stage.index;
    id.number = step.number;
    return id;
}

std::string heading(const StepRef& step) {
    return "[" + step.stage + " " + std::to_string(step.number) + "/" + std::to_string(step.total) + "] " + step.text;
}

// Prints why the current step missed; never fails the build.
void explain(const StageBuild& s, const StepIdentity& id, const nlohmann::json& record, const std::string& key,
             const std::optional<LastStep>& last) {
    const BuildShared& build = s.build;
    std::string reason;
    try {
        const std::string base = s.stage.base_stage
                                     ? "stage " + build.dag.stages.at(static_cast<std::size_t>(*s.stage.base_stage)).name
                                     : s.stage.base;
        reason = explain_miss({build.store, id, record, key, last, build.context_hashes, build.options.no_cache, base});
    } catch (const std::exception& e) {
        reason = std::string("cannot tell why: ") + e.what();
    }
    build.progress.message("explain: " + heading(s.current_step()) + ": " + reason);
}

// SOURCE_DATE_EPOCH is an input of the step's output too: a layer with unclamped mtimes
// (and its `created`) must not stand in for a clamped one. Without it nothing is added, so
// existing keys stay what they were. The codec is not an input: see in_compression.
nlohmann::json with_output_options(const nlohmann::json& record, const BuildOptions& options) {
    if (!options.source_date_epoch) return record;
    nlohmann::json out = record;
    out["source_date_epoch"] = *options.source_date_epoch;
    return out;
}

// A cached step serves any --compression: its layer's tar is re-encoded, once per (diff
// id, codec, level) and then reused (store/layer_blobs.hpp), rather than the step run
// again, which would cost the step and might not give the same files.
void in_compression(store::Store& store, StepOutput& output, const store::LayerCompression& compression) {
    if (!output.layer) return;
    output.layer = store::layer_blob_as(store, store::Layer{*output.layer, output.diff_id}, compression).descriptor;
}

// The layers under a state, with their diff ids: what rebuilds its snapshots elsewhere.
std::vector<store::Layer> layer_chain(const ImageState& state) {
    if (state.layers.empty()) return {};
    const auto& diff_ids = state.config.at("rootfs").at("diff_ids");
    std::vector<store::Layer> chain;
    for (std::size_t i = 0; i < state.layers.size(); ++i) chain.push_back({state.layers[i], diff_ids.at(i).get<std::string>()});
    return chain;
}

} // namespace

void StageBuild::apply_step(const parser::Instruction& step, ImageState& state, const nlohmann::json& step_record,
                            const std::function<void(TempDir& snapshot)>& produce) {
    const nlohmann::json record = with_output_options(step_record, build.options);
    const std::string key = cache_key(record);
    const StepIdentity id = identity_of(build.options, stage, current_);
    const std::optional<LastStep> last = last_step(build.store, id);
    std::optional<StepOutput> output;
    if (!build.options.no_cache) output = cache_lookup(build.store, key);
    const bool hit = output.has_value();
    if (hit) {
        build.progress.step_cached(current_);
        in_compression(build.store, *output, build.options.compression);
    } else {
        if (build.options.explain) explain(*this, id, record, key, last);
        build.progress.step_running(current_);
        output = produce_output(state, produce);
        cache_remember(build.store, key, record, *output);
    }
    remember_step(build.store, id, last,
                  LastStep{key, record, output->chain_id, output->layer.has_value(), hit, current_.text},
                  build.context_hashes);
    if (output->layer) state.add_layer(*output->layer, output->diff_id, output->chain_id);
    state.created = std::max(state.created, output->created);  // RFC 3339 UTC of one shape: text order is time order
    state.add_history(step.original, !output->layer);
    build.used_steps.add(CacheEntry{key, record, *output, layer_chain(state), stage.index});
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
    layer_options.compression = build.options.compression;
    // Blob and snapshot made durable with one sync (the record written next names both).
    const auto committed = build.store.commit_layer(std::move(snapshot), state.top_chain_id(), layer_options);
    output.layer = committed.layer.descriptor;
    output.diff_id = committed.layer.diff_id;
    output.chain_id = committed.chain_id;
    return output;
}

} // namespace strata::builder
