#include "daemon/model/error.hpp"

#include <string>

namespace tinbao {

namespace {

class Category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "tinbao"; }
    std::string message(int ev) const override {
        switch (static_cast<Errc>(ev)) {
            case Errc::queue_unavailable: return "the queue is unavailable";
            case Errc::not_found: return "not found";
            case Errc::duplicate: return "already seen";
        }
        return "unknown tinbao error " + std::to_string(ev);
    }
};

}  // namespace

const boost::system::error_category& error_category() noexcept {
    static const Category category;
    return category;
}

}  // namespace tinbao
