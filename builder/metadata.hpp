#pragma once
// Instructions that only edit the image config: no process runs and no layer is added,
// only an `empty_layer` history entry. Each lands where docker puts it in the config.
#include "builder/image_state.hpp"
#include "parser/buildfile.hpp"

#include <string>
#include <vector>

namespace strata::builder {

struct MetadataContext {
    parser::Environment env;      // for ${...}: ARGs in scope overridden by ENV
    char escape = '\\';
    bool cmd_set_in_stage = false;  // an ENTRYPOINT keeps a CMD given in the same stage
};

bool is_metadata(parser::Kind kind);
// Applies a metadata instruction (ENV, LABEL, WORKDIR, CMD, ENTRYPOINT, USER, EXPOSE,
// VOLUME, STOPSIGNAL, SHELL, MAINTAINER, HEALTHCHECK, ONBUILD) and records its history.
void apply_metadata(const parser::Instruction& step, ImageState& state, MetadataContext& context);

// RUN/CMD/ENTRYPOINT argv: exec form as given; shell form through the image's SHELL
// (default /bin/sh -c), as docker does.
std::vector<std::string> shell_or_exec(const parser::Instruction& step, const ImageState& state);

// "80" -> {"80/tcp"}; "8000-8002/udp" -> three ports. Throws on a malformed port.
std::vector<std::string> expand_exposed_port(const std::string& spec);

} // namespace strata::builder
