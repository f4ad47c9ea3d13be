#include "builder/metadata.hpp"

#include "builder/paths.hpp"
#include "util/error.hpp"

#include <charconv>

namespace strata::builder {

namespace {

using K = parser::Kind;

json& object_field(json& parent, const char* key) {
    json& field = parent[key];
    if (!field.is_object()) field = json::object();
    return field;
}

std::string expand(const std::string& word, const MetadataContext& c) { return parser::expand_word(word, c.env, c.escape); }

void set_env(const parser::Instruction& step, ImageState& state, const MetadataContext& c) {
    // Every pair sees the environment from before the line, as docker does.
    for (const auto& kv : step.pairs) state.set_env(kv.key, expand(kv.value.value_or(""), c));
}

void set_labels(const parser::Instruction& step, ImageState& state, const MetadataContext& c) {
    json& labels = object_field(state.runtime_config(), "Labels");
    for (const auto& kv : step.pairs) labels[expand(kv.key, c)] = expand(kv.value.value_or(""), c);
}

void set_command(const parser::Instruction& step, ImageState& state, MetadataContext& c) {
    json& rc = state.runtime_config();
    if (step.kind == K::cmd) {
        rc["Cmd"] = shell_or_exec(step, state);
        c.cmd_set_in_stage = true;
        return;
    }
    rc["Entrypoint"] = shell_or_exec(step, state);
    if (!c.cmd_set_in_stage) rc.erase("Cmd");  // an ENTRYPOINT resets a CMD inherited from the base
}

void set_exposed_ports(const parser::Instruction& step, ImageState& state, const MetadataContext& c) {
    json& ports = object_field(state.runtime_config(), "ExposedPorts");
    for (const auto& value : step.values)
        for (const auto& word : parser::expand_words(value, c.env, c.escape))
            for (const auto& port : expand_exposed_port(word)) ports[port] = json::object();
}

void set_volumes(const parser::Instruction& step, ImageState& state, const MetadataContext& c) {
    json& volumes = object_field(state.runtime_config(), "Volumes");
    for (const auto& value : step.values) {
        const std::string path = expand(value, c);
        if (path.empty()) throw Error("VOLUME specified can not be an empty string");
        volumes[path] = json::object();
    }
}

void set_healthcheck(const parser::Instruction& step, ImageState& state) {
    const auto& h = step.healthcheck;
    json check = {{"Test", h.test}};
    if (h.interval_ns) check["Interval"] = h.interval_ns;
    if (h.timeout_ns) check["Timeout"] = h.timeout_ns;
    if (h.start_period_ns) check["StartPeriod"] = h.start_period_ns;
    if (h.start_interval_ns) check["StartInterval"] = h.start_interval_ns;
    if (h.retries) check["Retries"] = h.retries;
    state.runtime_config()["Healthcheck"] = check;
}

void add_onbuild(const parser::Instruction& step, ImageState& state) {
    json& triggers = state.runtime_config()["OnBuild"];
    if (!triggers.is_array()) triggers = json::array();
    triggers.push_back(step.onbuild_expression);
}

unsigned parse_port(const std::string& text, const std::string& spec) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535)
        throw Error("invalid port '" + spec + "'");
    return value;
}

} // namespace

bool is_metadata(parser::Kind kind) {
    switch (kind) {
    case K::env: case K::label: case K::workdir: case K::cmd: case K::entrypoint: case K::user:
    case K::expose: case K::volume: case K::stopsignal: case K::shell: case K::maintainer:
    case K::healthcheck: case K::onbuild:
        return true;
    default:
        return false;
    }
}

void apply_metadata(const parser::Instruction& step, ImageState& state, MetadataContext& c) {
    json& rc = state.runtime_config();
    switch (step.kind) {
    case K::env: set_env(step, state, c); break;
    case K::label: set_labels(step, state, c); break;
    case K::workdir: rc["WorkingDir"] = join_container_path(state.working_dir(), expand(step.path, c)); break;
    case K::cmd: case K::entrypoint: set_command(step, state, c); break;
    case K::user: rc["User"] = expand(step.user, c); break;
    case K::expose: set_exposed_ports(step, state, c); break;
    case K::volume: set_volumes(step, state, c); break;
    case K::stopsignal: rc["StopSignal"] = expand(step.signal, c); break;
    case K::shell: rc["Shell"] = step.command; break;
    case K::maintainer: state.config["author"] = step.maintainer; break;
    case K::healthcheck: set_healthcheck(step, state); break;
    case K::onbuild: add_onbuild(step, state); break;
    default: throw Error(std::string(parser::kind_name(step.kind)) + " is not a metadata instruction");
    }
    state.add_history(step.original, true);
}

std::vector<std::string> shell_or_exec(const parser::Instruction& step, const ImageState& state) {
    if (!step.shell_form) return step.command;
    std::vector<std::string> argv = {"/bin/sh", "-c"};
    const auto rc = state.config.find("config");
    if (rc != state.config.end() && rc->is_object() && rc->contains("Shell") && (*rc)["Shell"].is_array() &&
        !(*rc)["Shell"].empty())
        argv = (*rc)["Shell"].get<std::vector<std::string>>();
    argv.push_back(step.command.empty() ? "" : step.command.front());
    return argv;
}

std::vector<std::string> expand_exposed_port(const std::string& spec) {
    std::string ports = spec;
    std::string proto = "tcp";
    if (const auto slash = spec.find('/'); slash != std::string::npos) {
        ports = spec.substr(0, slash);
        proto = spec.substr(slash + 1);
        for (auto& ch : proto) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (proto != "tcp" && proto != "udp" && proto != "sctp") throw Error("invalid proto '" + proto + "' in port '" + spec + "'");
    }
    unsigned first = 0;
    unsigned last = 0;
    if (const auto dash = ports.find('-'); dash != std::string::npos) {
        first = parse_port(ports.substr(0, dash), spec);
        last = parse_port(ports.substr(dash + 1), spec);
        if (last < first) throw Error("invalid port range '" + spec + "'");
    } else {
        first = last = parse_port(ports, spec);
    }
    std::vector<std::string> out;
    for (unsigned p = first; p <= last; ++p) out.push_back(std::to_string(p) + "/" + proto);
    return out;
}

} // namespace strata::builder
