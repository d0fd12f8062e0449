/* act: the MLP nonlinearities.
 *
 * Legend: N rows, H hidden features.
 * SwiGLU (Llama, Qwen2): gu [N, 2H] holds gate in columns [0, H) and up in
 *   [H, 2H) of each row; out [N, H] = silu(gate) ∘ up, silu(x) = x·σ(x).
 * GELU, tanh form (GPT-2's gelu_new):
 *   out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), inp and out [N, H].
 * Backward adds into dgu / dinp. */
#ifndef FT_NN_ACT_H
#define FT_NN_ACT_H

void ft_act_swiglu_forward(float *out, const float *gu, int N, int H);
void ft_act_swiglu_backward(float *dgu, const float *dout, const float *gu, int N, int H);

void ft_act_gelu_forward(float *out, const float *inp, int N, int H);
void ft_act_gelu_backward(float *dinp, const float *dout, const float *inp, int N, int H);

#endif
