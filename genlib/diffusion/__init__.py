"""genlib.diffusion: noise schedules, the forward process q(x_t | x_0), samplers that turn a noise predictor into images."""
from genlib.diffusion.samplers import (DEFAULT_ETA, SAMPLERS, SIGMA_SAMPLERS, SampleResult, ddim_sigma, sample,
                                       sigma_grid, timestep_grid)
from genlib.diffusion.schedules import (alphas_cumprod, alphas_cumprod_from_sigmas, check_alphas_cumprod,
                                        cosine_alphas_cumprod, cosine_betas, forward_moments, karras_sigmas,
                                        linear_betas, posterior_coefficients, posterior_mean_variance, q_sample,
                                        sigma_from_timestep, sigmas_from_alphas_cumprod, snr, timestep_from_sigma)

__all__ = ["DEFAULT_ETA", "SAMPLERS", "SIGMA_SAMPLERS", "SampleResult", "ddim_sigma", "sample", "sigma_grid",
           "timestep_grid", "alphas_cumprod", "alphas_cumprod_from_sigmas", "check_alphas_cumprod",
           "cosine_alphas_cumprod", "cosine_betas", "forward_moments", "karras_sigmas", "linear_betas",
           "posterior_coefficients", "posterior_mean_variance", "q_sample", "sigma_from_timestep",
           "sigmas_from_alphas_cumprod", "snr", "timestep_from_sigma"]
