namespace UQEngine.Kernels;

/// <summary>One entry of a step's top-k list: a token id and its log-probability (natural log) under softmax(logits).</summary>
/// <param name="TokenId">Vocabulary index of the token, or −1 for an unused slot.</param>
/// <param name="LogProbability">ln p(token) ≤ 0; −∞ for a token with no probability mass or an unused slot.</param>
public readonly record struct TopToken(int TokenId, float LogProbability);
