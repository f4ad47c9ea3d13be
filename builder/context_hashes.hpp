#pragma once
// Content digests of COPY/ADD sources for cache keys (see hash_source in copy.hpp).
#include "builder/copy.hpp"

#include <string>

namespace strata::builder {

class ContextHashes {
public:
    std::string digest(const CopySource& source, const ContextFilter& filter) { return hash_source(source, filter); }
};

} // namespace strata::builder
