# glmm_power_count.R -- reference power for a count-outcome trial analysed by a Poisson GLMM, by a
# plain simulate-and-glmer loop (simr is not installable here: r-cran-simr is not in Debian).
#   Rscript glmm_power_count.R      (run in tests/reference; writes glmm_power_count.json)
# Design (attunement.trials.TrialDesign): 2 arms x 40 families, 1 centre, 3 waves at times 0, 1, 2,
# count outcome with mean 1.5 per wave in control, rate ratio 0.7 at the last wave growing
# linearly (effect = "slope"), family ICC 0.2 on the log scale with level-1 variance
# log(1 + 1/1.5) (family variance 0.2/0.8 * log(1 + 1/1.5)), no attrition. Analysis:
# glmer(y ~ arm * time + (1 | family), poisson) by Laplace, Wald z test of arm1:time at 0.05.
# On these data lme4's default (finite-difference Hessian) SE collapses in a few percent of fits
# (to ~0.002 where the RX-based SE is ~0.13), which makes those tests spuriously significant;
# "power" therefore uses the RX-based SE (vcov(fit, use.hessian = FALSE)), and the default-SE
# power and the number of collapsed fits (Hessian SE < half the RX SE) are recorded as well.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
set.seed(20261205)
nsim <- 500
F <- 80
vf <- 0.2 / 0.8 * log(1 + 1 / 1.5)
d <- expand.grid(wave = 1:3, family = 1:F)
d$time <- (0:2)[d$wave]
d$arm <- factor(ifelse(d$family <= F / 2, "0", "1"))
d$family <- factor(d$family)
sig <- sig_default <- logical(nsim); est <- se <- se_default <- rep(NA_real_, nsim); failed <- 0
t0 <- proc.time()[["elapsed"]]
for (s in 1:nsim) {
  eta <- log(1.5) + log(0.7) / 2 * (d$arm == "1") * d$time + rnorm(F, 0, sqrt(vf))[as.integer(d$family)]
  d$y <- rpois(nrow(d), exp(eta))
  fit <- tryCatch(suppressMessages(suppressWarnings(
    glmer(y ~ arm * time + (1 | family), data = d, family = poisson))), error = function(e) NULL)
  if (is.null(fit)) { failed <- failed + 1; next }
  est[s] <- fixef(fit)[["arm1:time"]]
  se[s] <- sqrt(as.matrix(vcov(fit, use.hessian = FALSE))["arm1:time", "arm1:time"])
  se_default[s] <- sqrt(as.matrix(suppressWarnings(vcov(fit)))["arm1:time", "arm1:time"])
  sig[s] <- 2 * pnorm(-abs(est[s] / se[s])) < 0.05
  sig_default[s] <- 2 * pnorm(-abs(est[s] / se_default[s])) < 0.05
}
el <- proc.time()[["elapsed"]] - t0
writeLines(toJSON(list(lme4 = as.character(packageVersion("lme4")), nsim = nsim, seed = 20261205,
                       design = list(n_per_arm = 40, arms = 2, centres = 1, waves = 3, effect = "slope",
                                     outcome = "count", rate_control = 1.5, rate_ratio = 0.7,
                                     icc_family = 0.2, attrition = 0),
                       term = "arm1:time", power = mean(sig), significant = sum(sig), failed = failed,
                       mean_estimate = mean(est, na.rm = TRUE), mean_se = mean(se, na.rm = TRUE),
                       power_default_se = mean(sig_default),
                       collapsed_default_se = sum(se_default < se / 2, na.rm = TRUE),
                       seconds = el),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE), "glmm_power_count.json")
