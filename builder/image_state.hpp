#pragma once
// The state a stage carries from step to step: the OCI config being built and the layer
// chain under it. Every metadata instruction edits `config`; RUN and COPY append a layer.
#include "parser/buildfile.hpp"
#include "store/store.hpp"
#include "util/units.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace strata::builder {

using json = nlohmann::json;

struct ImageState {
    json config;                           // the whole OCI config document
    std::vector<store::Descriptor> layers; // bottom first
    std::vector<std::string> chain_ids;    // parallel to layers
    std::string created;                   // RFC 3339 time of the newest step that produced this state
    std::string base_name, base_digest;    // the image FROM named (through stages); "" from scratch

    const std::string& top_chain_id() const;
    std::vector<std::filesystem::path> snapshot_dirs_topmost_first(const store::Store& store) const;

    // The "config" object of the OCI config (Env, Cmd, Labels, ...), created when missing.
    json& runtime_config();

    // Config accessors; "Env" keeps docker's order: replacing a key keeps its position.
    parser::Environment env() const;
    std::vector<std::string> env_list() const;
    void set_env(const std::string& key, const std::string& value);
    std::string working_dir() const;
    std::string user() const;

    void add_history(const std::string& created_by, bool empty_layer);
    void add_layer(const store::Descriptor& layer, const std::string& diff_id, const std::string& chain_id);
};

// Docker's PATH for images that set none (BuildKit adds it to scratch-based images).
inline constexpr const char* default_path_env = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// An empty image (FROM scratch) for this host's platform.
ImageState scratch_state(const std::string& created);
// The state of an image in the store (its snapshots unpacked by the caller).
ImageState state_from_image(const store::Image& image);

// "2026-11-29T20:08:53Z"
using strata::format_rfc3339;  // util/units.hpp
std::string oci_architecture();  // uname machine in GOARCH words: amd64, arm64, ...

} // namespace strata::builder
