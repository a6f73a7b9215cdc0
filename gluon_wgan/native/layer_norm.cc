// Fused CPU kernels for the critic's layer norm and for its transpose in the gradient penalty.
//
// Built and loaded at run time by gluon_wgan/native/__init__.py through MXNet's external operator
// library API (lib_api.h, shipped in the mxnet wheel). Each operator has a hand-written first-order
// backward; the penalty never differentiates these operators twice (see gluon_wgan/penalty.py).
//
// Notation, per sample (one row of M = C*H*W entries, channel c of entry k is k / (H*W)):
//   layer_norm:   mu = mean(x), s = 1 / sqrt(mean((x - mu)^2) + eps), n = (x - mu) * s,
//                 out = gamma_c * n + beta_c;  outputs (out, n, s).
//   ln_transpose: u = gamma_c * g [* d], dx = s * (u - mean(u) - n * mean(u * n));  output dx:
//                 the layer norm's input gradient given its output gradient g, times the
//                 derivative d of an activation applied after it (optional).
// Both run over samples in parallel (OpenMP), two passes over each row.
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "mxnet/lib_api.h"

using mxnet::ext::MXReturnValue;
using mxnet::ext::MXTensor;
using mxnet::ext::OpResource;
using mxnet::ext::MX_FAIL;
using mxnet::ext::MX_SUCCESS;

namespace {

typedef std::unordered_map<std::string, std::string> Attrs;

struct Layout {
  int64_t n, c, hw, m;   // samples, channels, entries per channel, entries per sample
};

Layout layout_of(const MXTensor& x) {
  Layout l;
  l.n = x.shape[0];
  l.c = x.shape.size() > 1 ? x.shape[1] : 1;
  l.hw = 1;
  for (size_t i = 2; i < x.shape.size(); ++i) l.hw *= x.shape[i];
  l.m = l.c * l.hw;
  return l;
}

double attr_double(const Attrs& attrs, const char* key, double fallback) {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : std::strtod(it->second.c_str(), nullptr);   // no throw
}

bool attr_flag(const Attrs& attrs, const char* key) {
  auto it = attrs.find(key);
  return it != attrs.end() && (it->second == "1" || it->second == "True" || it->second == "true");
}

// Calls fn(T()) with T the element type of t: float or double, the only types same_float_type
// admits. Each operator's entry point is one such call.
template <typename Fn>
MXReturnValue for_dtype(const MXTensor& t, Fn fn) {
  if (t.dtype == mxnet::ext::kFloat32) {
    fn(float());
  } else {
    fn(double());
  }
  return MX_SUCCESS;
}

// Per-channel sums over samples and entries: out_c = sum_{n, k in c} a * b (b may be null: a alone).
template <typename T>
void channel_sums(const T* a, const T* b, const Layout& l, T* out) {
#pragma omp parallel for
  for (int64_t c = 0; c < l.c; ++c) {
    double acc = 0;
    for (int64_t i = 0; i < l.n; ++i) {
      const int64_t base = i * l.m + c * l.hw;
      if (b) {
        for (int64_t k = 0; k < l.hw; ++k) acc += static_cast<double>(a[base + k]) * b[base + k];
      } else {
        for (int64_t k = 0; k < l.hw; ++k) acc += a[base + k];
      }
    }
    out[c] = static_cast<T>(acc);
  }
}

// ------------------------------------------------------------------------------- layer_norm

template <typename T>
void ln_forward(const T* x, const T* gamma, const T* beta, T eps, const Layout& l, T* out, T* normed,
                T* inv_std) {
#pragma omp parallel for
  for (int64_t i = 0; i < l.n; ++i) {
    const T* xi = x + i * l.m;
    double sum = 0;
    for (int64_t k = 0; k < l.m; ++k) sum += xi[k];
    const double mu = sum / l.m;
    double sq = 0;
    for (int64_t k = 0; k < l.m; ++k) sq += (xi[k] - mu) * (xi[k] - mu);
    const T s = static_cast<T>(1.0 / std::sqrt(sq / l.m + eps));
    inv_std[i] = s;
    T* ni = normed + i * l.m;
    T* oi = out + i * l.m;
    for (int64_t c = 0; c < l.c; ++c) {
      const T g = gamma[c], b = beta[c];
      for (int64_t k = c * l.hw; k < (c + 1) * l.hw; ++k) {
        ni[k] = static_cast<T>((xi[k] - mu) * s);
        oi[k] = g * ni[k] + b;
      }
    }
  }
}

// Gradients of (out, normed, inv_std) -> (x, gamma, beta).
template <typename T>
void ln_backward(const T* g_out, const T* g_normed, const T* g_inv_std, const T* gamma,
                 const T* normed, const T* inv_std, const Layout& l, T* dx, T* dgamma, T* dbeta) {
#pragma omp parallel for
  for (int64_t i = 0; i < l.n; ++i) {
    const int64_t base = i * l.m;
    const T* ni = normed + base;
    double sum_dn = 0, sum_dn_n = 0;
    for (int64_t c = 0; c < l.c; ++c) {
      for (int64_t k = c * l.hw; k < (c + 1) * l.hw; ++k) {
        const double dn = static_cast<double>(gamma[c]) * g_out[base + k] + g_normed[base + k];
        sum_dn += dn;
        sum_dn_n += dn * ni[k];
      }
    }
    const double s = inv_std[i], a = sum_dn / l.m, b = sum_dn_n / l.m;
    // d inv_std / dx_k = -inv_std^2 * normed_k / M
    const double from_s = -static_cast<double>(g_inv_std[i]) * s * s / l.m;
    for (int64_t c = 0; c < l.c; ++c) {
      for (int64_t k = c * l.hw; k < (c + 1) * l.hw; ++k) {
        const double dn = static_cast<double>(gamma[c]) * g_out[base + k] + g_normed[base + k];
        dx[base + k] = static_cast<T>(s * (dn - a - ni[k] * b) + from_s * ni[k]);
      }
    }
  }
  channel_sums(g_out, normed, l, dgamma);
  channel_sums(g_out, static_cast<const T*>(nullptr), l, dbeta);
}

MXReturnValue layer_norm_forward(const Attrs& attrs, std::vector<MXTensor>* in,
                                 std::vector<MXTensor>* out, const OpResource&) {
  const double eps = attr_double(attrs, "eps", 1e-5);
  return for_dtype((*in)[0], [&](auto zero) {
    typedef decltype(zero) T;
    ln_forward<T>((*in)[0].data<T>(), (*in)[1].data<T>(), (*in)[2].data<T>(), static_cast<T>(eps),
                  layout_of((*in)[0]), (*out)[0].data<T>(), (*out)[1].data<T>(), (*out)[2].data<T>());
  });
}

// in: gradients of (out, normed, inv_std), then the inputs (x, gamma, beta), then the outputs
// (out, normed, inv_std); out: gradients of (x, gamma, beta).
MXReturnValue layer_norm_backward(const Attrs&, std::vector<MXTensor>* in,
                                  std::vector<MXTensor>* out, const OpResource&) {
  return for_dtype((*in)[3], [&](auto zero) {
    typedef decltype(zero) T;
    ln_backward<T>((*in)[0].data<T>(), (*in)[1].data<T>(), (*in)[2].data<T>(), (*in)[4].data<T>(),
                   (*in)[7].data<T>(), (*in)[8].data<T>(), layout_of((*in)[3]), (*out)[0].data<T>(),
                   (*out)[1].data<T>(), (*out)[2].data<T>());
  });
}

MXReturnValue layer_norm_attrs(const Attrs&, int* num_in, int* num_out) {
  *num_in = 3;
  *num_out = 3;
  return MX_SUCCESS;
}

// ----------------------------------------------------------------------------- ln_transpose

// u_k = gamma_c * g_k * d_k (d may be null: 1).
template <typename T>
inline double u_at(const T* g, const T* d, T gamma_c, int64_t k) {
  return d ? static_cast<double>(gamma_c) * g[k] * d[k] : static_cast<double>(gamma_c) * g[k];
}

template <typename T>
void tr_forward(const T* g, const T* gamma, const T* normed, const T* inv_std, const T* deriv,
                const Layout& l, T* dx) {
#pragma omp parallel for
  for (int64_t i = 0; i < l.n; ++i) {
    const int64_t base = i * l.m;
    const T *gi = g + base, *ni = normed + base, *di = deriv ? deriv + base : nullptr;
    double sum_u = 0, sum_un = 0;
    for (int64_t c = 0; c < l.c; ++c) {
      for (int64_t k = c * l.hw; k < (c + 1) * l.hw; ++k) {
        const double u = u_at(gi, di, gamma[c], k);
        sum_u += u;
        sum_un += u * ni[k];
      }
    }
    const double s = inv_std[i], a = sum_u / l.m, b = sum_un / l.m;
    for (int64_t c = 0; c < l.c; ++c) {
      for (int64_t k = c * l.hw; k < (c + 1) * l.hw; ++k) {
        dx[base + k] = static_cast<T>(s * (u_at(gi, di, gamma[c], k) - a - ni[k] * b));
      }
    }
  }
}

// Gradients of dx -> (g, gamma, normed, inv_std[, deriv]). With P(v) = v - mean(v) - n mean(v n)
// (symmetric): d u = s P(G); d n_k = -s (G_k mean(u n) + u_k mean(G n)); d s = sum(G P(u)).
// d gamma_c sums g d du over channel c of every sample: per sample first (`per_sample`, N x C),
// then over samples, so the threads never write to one place.
template <typename T>
void tr_backward(const T* grad, const T* g, const T* gamma, const T* normed, const T* inv_std,
                 const T* deriv, const Layout& l, T* dg, T* dgamma, T* dnormed, T* dinv_std,
                 T* dderiv) {
  std::vector<double> per_sample(static_cast<size_t>(l.n * l.c));
#pragma omp parallel for
  for (int64_t i = 0; i < l.n; ++i) {
    const int64_t base = i * l.m;
    const T *Gi = grad + base, *gi = g + base, *ni = normed + base;
    const T* di = deriv ? deriv + base : nullptr;
    double sum_u = 0, sum_un = 0, sum_G = 0, sum_Gn = 0, sum_Gu = 0;
    for (int64_t c = 0; c < l.c; ++c) {
      for (int64_t k = c * l.hw; k < (c + 1) * l.hw; ++k) {
        const double u = u_at(gi, di, gamma[c], k);
        sum_u += u;
        sum_un += u * ni[k];
        sum_G += Gi[k];
        sum_Gn += static_cast<double>(Gi[k]) * ni[k];
        sum_Gu += Gi[k] * u;
      }
    }
    const double s = inv_std[i], m = static_cast<double>(l.m);
    const double mean_u = sum_u / m, mean_un = sum_un / m, mean_G = sum_G / m, mean_Gn = sum_Gn / m;
    // sum(G * P(u)) = sum(G u) - mean(u) sum(G) - mean(u n) sum(G n)
    dinv_std[i] = static_cast<T>(sum_Gu - mean_u * sum_G - mean_un * sum_Gn);
    for (int64_t c = 0; c < l.c; ++c) {
      double gamma_part = 0;
      for (int64_t k = c * l.hw; k < (c + 1) * l.hw; ++k) {
        const double u = u_at(gi, di, gamma[c], k);
        const double du = s * (Gi[k] - mean_G - ni[k] * mean_Gn);
        dnormed[base + k] = static_cast<T>(-s * (Gi[k] * mean_un + u * mean_Gn));
        const double d = di ? static_cast<double>(di[k]) : 1.0;
        dg[base + k] = static_cast<T>(gamma[c] * d * du);
        if (dderiv) dderiv[base + k] = static_cast<T>(gamma[c] * gi[k] * du);
        gamma_part += gi[k] * d * du;   // d u_k / d gamma_c = g_k d_k
      }
      per_sample[i * l.c + c] = gamma_part;
    }
  }
  for (int64_t c = 0; c < l.c; ++c) {
    double acc = 0;
    for (int64_t i = 0; i < l.n; ++i) acc += per_sample[i * l.c + c];
    dgamma[c] = static_cast<T>(acc);
  }
}

MXReturnValue ln_transpose_forward(const Attrs& attrs, std::vector<MXTensor>* in,
                                   std::vector<MXTensor>* out, const OpResource&) {
  const bool with_deriv = attr_flag(attrs, "with_deriv");
  return for_dtype((*in)[0], [&](auto zero) {
    typedef decltype(zero) T;
    tr_forward<T>((*in)[0].data<T>(), (*in)[1].data<T>(), (*in)[2].data<T>(), (*in)[3].data<T>(),
                  with_deriv ? (*in)[4].data<T>() : nullptr, layout_of((*in)[0]), (*out)[0].data<T>());
  });
}

// in: gradient of dx, then the inputs (g, gamma, normed, inv_std[, deriv]), then the output dx;
// out: gradients of the inputs.
MXReturnValue ln_transpose_backward(const Attrs& attrs, std::vector<MXTensor>* in,
                                    std::vector<MXTensor>* out, const OpResource&) {
  const bool with_deriv = attr_flag(attrs, "with_deriv");
  return for_dtype((*in)[1], [&](auto zero) {
    typedef decltype(zero) T;
    tr_backward<T>((*in)[0].data<T>(), (*in)[1].data<T>(), (*in)[2].data<T>(), (*in)[3].data<T>(),
                   (*in)[4].data<T>(), with_deriv ? (*in)[5].data<T>() : nullptr, layout_of((*in)[1]),
                   (*out)[0].data<T>(), (*out)[1].data<T>(), (*out)[2].data<T>(), (*out)[3].data<T>(),
                   with_deriv ? (*out)[4].data<T>() : nullptr);
  });
}

MXReturnValue ln_transpose_attrs(const Attrs& attrs, int* num_in, int* num_out) {
  *num_in = attr_flag(attrs, "with_deriv") ? 5 : 4;
  *num_out = 1;
  return MX_SUCCESS;
}

// ------------------------------------------------------------------------- shapes and types

MXReturnValue same_float_type(const Attrs&, std::vector<int>* in_types, std::vector<int>* out_types) {
  const int t = (*in_types)[0];
  if (t != mxnet::ext::kFloat32 && t != mxnet::ext::kFloat64) {
    MX_ERROR_MSG << "gluon_wgan layer norm kernels support float32 and float64 only";
    return MX_FAIL;
  }
  for (size_t i = 0; i < in_types->size(); ++i) {
    if ((*in_types)[i] != t) {
      MX_ERROR_MSG << "gluon_wgan layer norm kernels: all inputs must have one dtype";
      return MX_FAIL;
    }
  }
  for (auto& o : *out_types) o = t;
  return MX_SUCCESS;
}

typedef std::vector<std::vector<unsigned int>> Shapes;

MXReturnValue layer_norm_shapes(const Attrs&, Shapes* in, Shapes* out) {
  const auto& x = (*in)[0];
  if (x.size() < 2 || (*in)[1].size() != 1 || (*in)[1][0] != x[1] || (*in)[2] != (*in)[1]) {
    MX_ERROR_MSG << "gluon_wgan layer_norm: expected x (N, C, ...), gamma and beta (C,)";
    return MX_FAIL;
  }
  (*out)[0] = x;
  (*out)[1] = x;
  (*out)[2] = {x[0], 1};
  return MX_SUCCESS;
}

MXReturnValue ln_transpose_shapes(const Attrs&, Shapes* in, Shapes* out) {
  const auto& g = (*in)[0];
  if (g.size() < 2 || (*in)[1].size() != 1 || (*in)[1][0] != g[1] || (*in)[2] != g ||
      (*in)[3].size() != 2 || (*in)[3][0] != g[0] || (*in)[3][1] != 1 ||
      (in->size() > 4 && (*in)[4] != g)) {
    MX_ERROR_MSG << "gluon_wgan ln_transpose: expected g, normed[, deriv] (N, C, ...), gamma (C,), "
                    "inv_std (N, 1)";
    return MX_FAIL;
  }
  (*out)[0] = g;
  return MX_SUCCESS;
}

}  // namespace

REGISTER_OP(gluon_wgan_layer_norm)
.setForward(layer_norm_forward, "cpu")
.setBackward(layer_norm_backward, "cpu")
.setParseAttrs(layer_norm_attrs)
.setInferType(same_float_type)
.setInferShape(layer_norm_shapes);

REGISTER_OP(gluon_wgan_ln_transpose)
.setForward(ln_transpose_forward, "cpu")
.setBackward(ln_transpose_backward, "cpu")
.setParseAttrs(ln_transpose_attrs)
.setInferType(same_float_type)
.setInferShape(ln_transpose_shapes);

MXReturnValue initialize(int version) {
  return version >= 10900 ? MX_SUCCESS : MX_FAIL;
}
