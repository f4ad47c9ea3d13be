#include "runner/runner.hpp"

#include "sandbox/view.hpp"
#include "store/containers.hpp"
#include "util/units.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <optional>

namespace strata::runner {

namespace {

using json = nlohmann::json;

std::vector<std::string> string_list(const json& config, const char* key) {
    std::vector<std::string> out;
    if (!config.contains("config") || !config["config"].is_object()) return out;
    const json& rc = config["config"];
    if (!rc.contains(key) || !rc[key].is_array()) return out;
    for (const auto& v : rc[key])
        if (v.is_string()) out.push_back(v.get<std::string>());
    return out;
}

std::string string_field(const json& config, const char* key) {
    if (!config.contains("config") || !config["config"].is_object()) return "";
    const json& rc = config["config"];
    return rc.contains(key) && rc[key].is_string() ? rc[key].get<std::string>() : "";
}

std::string env_key(const std::string& entry) { return entry.substr(0, entry.find('=')); }

bool host_network(const std::string& network) {
    if (network == "host" || network.empty()) return true;
    if (network == "none") return false;
    throw Error("--network '" + network + "': strata runs containers on the host's network or none (no bridge networks)");
}

} // namespace

std::vector<std::string> container_argv(const json& image_config, const RunOptions& options) {
    std::vector<std::string> argv;
    if (options.entrypoint) {
        if (!options.entrypoint->empty()) argv.push_back(*options.entrypoint);
    } else {
        argv = string_list(image_config, "Entrypoint");
    }
    if (!options.command.empty()) {
        argv.insert(argv.end(), options.command.begin(), options.command.end());
    } else if (!options.entrypoint) {
        const auto cmd = string_list(image_config, "Cmd");
        argv.insert(argv.end(), cmd.begin(), cmd.end());
    }
    return argv;
}

std::vector<std::string> container_env(const json& image_config, const std::vector<std::string>& overrides) {
    std::vector<std::string> env = string_list(image_config, "Env");
    for (const auto& entry : overrides) {
        std::string full = entry;
        if (entry.find('=') == std::string::npos) {
            const char* host = std::getenv(entry.c_str());
            if (!host) continue;  // docker drops `-e NAME` when the host has no NAME
            full = entry + "=" + host;
        }
        bool replaced = false;
        for (auto& e : env)
            if (env_key(e) == env_key(full)) {
                e = full;
                replaced = true;
            }
        if (!replaced) env.push_back(full);
    }
    return env;
}

void mount_requests(sandbox::Spec& spec, store::Store& store, const std::vector<MountRequest>& requests,
                    const fs::path& anonymous_volumes, const fs::path& view_dir) {
    const bool has_volume = std::any_of(requests.begin(), requests.end(),
                                        [](const MountRequest& r) { return r.kind == MountRequest::Kind::volume; });
    std::optional<sandbox::ReadOnlyView> image;  // only to fill new volumes from
    if (has_volume) {
        // Seen only by this process: mounted in a namespace of its own.
        sandbox::enter_private_mount_namespace();
        make_dirs(view_dir);
        // With a user namespace the view shows the container's host ids, so a volume's
        // copy of the image belongs to the container's users.
        image.emplace(spec.lower_dirs, view_dir, spec.userns);
    }
    for (const auto& request : requests)
        spec.mounts.push_back(resolve_mount(request, store, anonymous_volumes, image ? image->path() : fs::path(), spec.userns));
}

namespace {

// What strata commit needs of a named container: its image, and the config it ran with,
// as docker records it (the command given becomes Cmd, an --entrypoint Entrypoint).
store::ContainerRecord kept_record(store::Store& store, const RunOptions& options, const sandbox::Spec& spec) {
    store::ContainerRecord record;
    record.name = options.name;
    record.image = *store.resolve(options.image);  // container_spec resolved it already
    const store::Image image = store.load_image(record.image);
    record.config = image.config.contains("config") && image.config["config"].is_object() ? image.config["config"] : json::object();
    if (options.entrypoint) {
        record.config["Entrypoint"] = options.entrypoint->empty() ? json(nullptr) : json::array({*options.entrypoint});
        record.config["Cmd"] = options.command;
    } else if (!options.command.empty()) {
        record.config["Cmd"] = options.command;
    }
    record.config["Env"] = spec.env;
    if (!options.workdir.empty()) record.config["WorkingDir"] = options.workdir;
    if (!options.user.empty()) record.config["User"] = options.user;
    record.created = format_rfc3339(std::time(nullptr));
    if (spec.userns) record.userns = store::IdShift{spec.userns->host_uid, spec.userns->host_gid, spec.userns->size};
    return record;
}

} // namespace

store::Descriptor commit_container(store::Store& store, const std::string& name, const std::string& message,
                                   long long created_seconds, const store::LayerCompression& compression) {
    const auto record = store::find_container(store, name);
    if (!record) throw Error("no container named '" + name + "' (only those run with --name are kept)");
    const store::Image image = store.load_image(record->image);
    store::LayerOptions layer_options;
    layer_options.unshift_ids = record->userns;  // a --userns container wrote host ids
    layer_options.compression = compression;
    const store::Layer layer = store.write_layer(store::container_dir(store, name) / "upper", layer_options);
    json config = image.config;
    const std::string created = format_rfc3339(created_seconds);
    config["config"] = record->config;
    config["created"] = created;
    config["rootfs"]["diff_ids"].push_back(layer.diff_id);
    json entry = {{"created", created}, {"created_by", "strata commit " + name}};
    if (!message.empty()) entry["comment"] = message;
    config["history"].push_back(entry);
    std::vector<store::Descriptor> layers = image.layers();
    layers.push_back(layer.descriptor);
    return store.write_image(config, layers);
}

sandbox::Spec container_spec(store::Store& store, const RunOptions& options) {
    const store::Image image = store.load_image(options.image);
    const auto snapshots = store.ensure_snapshots(image);

    sandbox::Spec spec;
    spec.lower_dirs.assign(snapshots.rbegin(), snapshots.rend());
    spec.argv = container_argv(image.config, options);
    if (spec.argv.empty()) throw Error("no command specified: the image has no Entrypoint or Cmd");
    spec.env = container_env(image.config, options.env);
    spec.cwd = !options.workdir.empty() ? options.workdir : string_field(image.config, "WorkingDir");
    if (spec.cwd.empty()) spec.cwd = "/";
    const auto user = sandbox::resolve_user(options.user.empty() ? string_field(image.config, "User") : options.user,
                                            spec.lower_dirs);
    spec.uid = user.uid;
    spec.gid = user.gid;
    spec.groups = user.groups;
    if (!options.hostname.empty()) spec.hostname = options.hostname;
    spec.limits = options.limits;
    spec.cap_add = options.cap_add;
    spec.cap_drop = options.cap_drop;
    spec.privileged = options.privileged;
    spec.host_network = host_network(options.network);
    spec.read_only_root = options.read_only;
    if (options.userns && options.privileged)
        throw Error("--privileged cannot be combined with a user namespace (--userns=host turns it off)");
    spec.userns = options.userns;
    return spec;
}

int run(store::Store& store, const RunOptions& options, std::ostream& diagnostics) {
    sandbox::Spec spec = container_spec(store, options);
    if (!options.interactive) spec.stdin_fd = -1;  // as docker without -i: /dev/null
    spec.terminal = options.tty;
    spec.forward_signals = true;  // Ctrl-C and kill reach the command, as with docker run
    spec.timeout = options.timeout;

    // The container's writable layer (and anonymous volumes) live only as long as this run
    // (docker's --rm), unless it has a name: then its layer is kept for strata commit.
    const TempDir container(store.tmp_dir(), "container-");
    spec.upper_dir = container.path() / "upper";
    spec.work_dir = container.path() / "work";
    if (!options.name.empty()) {
        const fs::path kept = store::create_container(store, kept_record(store, options, spec));
        spec.upper_dir = kept / "upper";
        spec.work_dir = kept / "work";
    }
    spec.state_dir = container.path() / "state";
    const fs::path anonymous_volumes = container.path() / "volumes";
    for (const auto& dir : {spec.upper_dir, spec.work_dir, spec.state_dir, anonymous_volumes}) make_dirs(dir);
    mount_requests(spec, store, options.mounts, anonymous_volumes, container.path() / "image");

    const sandbox::Result result = sandbox::run(spec);
    if (!options.name.empty() && options.remove) store::remove_container(store, options.name);
    if (!result.exec_error.empty()) diagnostics << "strata: error: " << result.exec_error << "\n";
    if (result.oom_killed) diagnostics << "strata: container killed: " << sandbox::describe_oom(options.limits) << "\n";
    if (result.timed_out)
        diagnostics << "strata: container killed: it ran longer than --timeout (" << options.timeout->count() / 1000.0 << " s)\n";
    return result.exit_code;
}

} // namespace strata::runner
