#include "builder/image_state.hpp"

#include "store/platform.hpp"

#include <ctime>

namespace strata::builder {

namespace {

std::pair<std::string, std::string> split_env(const std::string& entry) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos) return {entry, ""};
    return {entry.substr(0, eq), entry.substr(eq + 1)};
}

json& runtime_config(json& config) {
    if (!config.contains("config") || !config["config"].is_object()) config["config"] = json::object();
    return config["config"];
}

std::string string_field(const json& config, const char* key) {
    if (!config.contains("config")) return "";
    const json& rc = config["config"];
    if (!rc.is_object() || !rc.contains(key) || !rc[key].is_string()) return "";
    return rc[key].get<std::string>();
}

} // namespace

const std::string& ImageState::top_chain_id() const {
    static const std::string none;
    return chain_ids.empty() ? none : chain_ids.back();
}

std::vector<std::filesystem::path> ImageState::snapshot_dirs_topmost_first(const store::Store& store) const {
    std::vector<std::filesystem::path> dirs;
    for (auto it = chain_ids.rbegin(); it != chain_ids.rend(); ++it) dirs.push_back(store.snapshot_dir(*it));
    return dirs;
}

json& ImageState::runtime_config() { return builder::runtime_config(config); }

std::vector<std::string> ImageState::env_list() const {
    std::vector<std::string> out;
    if (config.contains("config") && config["config"].is_object() && config["config"].contains("Env")) {
        for (const auto& e : config["config"]["Env"])
            if (e.is_string()) out.push_back(e.get<std::string>());
    }
    return out;
}

parser::Environment ImageState::env() const {
    parser::Environment env;
    for (const auto& entry : env_list()) {
        auto [k, v] = split_env(entry);
        env[k] = v;
    }
    return env;
}

void ImageState::set_env(const std::string& key, const std::string& value) {
    auto list = env_list();
    bool replaced = false;
    for (auto& entry : list) {
        if (split_env(entry).first == key) {
            entry = key + "=" + value;
            replaced = true;
        }
    }
    if (!replaced) list.push_back(key + "=" + value);
    runtime_config()["Env"] = list;
}

std::string ImageState::working_dir() const { return string_field(config, "WorkingDir"); }
std::string ImageState::user() const { return string_field(config, "User"); }

void ImageState::add_history(const std::string& created_by, bool empty_layer) {
    json entry = {{"created", created}, {"created_by", created_by}, {"comment", "strata"}};
    if (empty_layer) entry["empty_layer"] = true;
    if (!config.contains("history") || !config["history"].is_array()) config["history"] = json::array();
    config["history"].push_back(entry);
}

void ImageState::add_layer(const store::Descriptor& layer, const std::string& diff_id, const std::string& chain_id) {
    layers.push_back(layer);
    chain_ids.push_back(chain_id);
    config["rootfs"]["type"] = "layers";
    config["rootfs"]["diff_ids"].push_back(diff_id);
}

ImageState scratch_state(const std::string& created) {
    ImageState state;
    state.created = created;
    state.config = {
        {"architecture", oci_architecture()},
        {"os", "linux"},
        {"config", {{"Env", json::array({std::string("PATH=") + default_path_env})}}},
        {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}},
        {"history", json::array()},
    };
    return state;
}

ImageState state_from_image(const store::Image& image) {
    ImageState state;
    state.config = image.config;
    state.layers = image.layers();
    state.chain_ids = store::chain_ids(image.diff_ids());
    if (image.config.contains("created") && image.config["created"].is_string())
        state.created = image.config["created"].get<std::string>();
    return state;
}

std::string oci_architecture() { return store::host_platform().architecture; }

} // namespace strata::builder
