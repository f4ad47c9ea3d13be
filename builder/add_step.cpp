// ADD: COPY plus archives that unpack and URLs that download.
#include "builder/stage.hpp"
#include "util/error.hpp"

namespace strata::builder {

void add_step(StageBuild&, const parser::Instruction&, ImageState&) {
    throw Error("ADD is not supported by the builder yet");
}

} // namespace strata::builder
