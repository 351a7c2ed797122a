# glmm_reference.R -- lme4::glmer references for attunement.trials.glmm (fit_glmm).
#   Rscript glmm_reference.R            (run in tests/reference; writes the CSVs and glmm_reference.json)
# Data: lme4's cbpp (binomial, cbind response), a 90-subject subset of lme4's VerbAgg (Bernoulli,
# crossed subject and item effects), lme4's grouseticks (Poisson, nested brood within location),
# and a simulated count trial with an exposure offset (seed 20261204, written to glmm_counts.csv).
# Fits use bobyqa with tight tolerances so that the reference is the optimum, not where bobyqa
# stopped, and tolPwrss = 1e-12: with lme4's default 1e-7 PIRLS stops while the Cholesky factor
# still holds the previous iterate's weights, which moves the Laplace deviance by ~1e-3 (cbpp:
# 6e-4); at 1e-12 lme4's deviance is the Laplace approximation at the conditional mode. The fit
# with lme4's default controls is recorded as well ("default"). SEs are lme4's default
# (Hessian-based, use.hessian = TRUE). For nAGQ > 1 lme4's logLik omits the saturated
# log-likelihood (lme4 issue #161); "logLik_full" adds it back (aic - sum of deviance residuals).
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
ctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12, optCtrl = list(rhobeg = 2e-3, rhoend = 1e-12, maxfun = 1e5))

cbpp2 <- as.data.frame(cbpp); cbpp2$herd <- as.character(cbpp2$herd); cbpp2$period <- as.character(cbpp2$period)
write.csv(cbpp2, "glmm_cbpp.csv", row.names = FALSE)

va <- as.data.frame(VerbAgg)
keep <- levels(va$id)[1:90]
va <- va[va$id %in% keep, c("r2", "Anger", "Gender", "btype", "situ", "id", "item")]
va$y <- as.integer(va$r2 == "Y"); va$r2 <- NULL
va$id <- as.character(va$id); va$item <- as.character(va$item)
va$Gender <- as.character(va$Gender); va$btype <- as.character(va$btype); va$situ <- as.character(va$situ)
write.csv(va, "glmm_verbagg.csv", row.names = FALSE)

gt <- as.data.frame(grouseticks)[, c("TICKS", "YEAR", "HEIGHT", "BROOD", "LOCATION")]
gt$cHEIGHT <- gt$HEIGHT - mean(gt$HEIGHT)
gt$YEAR <- as.character(gt$YEAR); gt$BROOD <- as.character(gt$BROOD); gt$LOCATION <- as.character(gt$LOCATION)
write.csv(gt, "glmm_grouseticks.csv", row.names = FALSE)

set.seed(20261204)
nf <- 120
fam <- data.frame(family = sprintf("f%03d", 1:nf), arm = rep(c("control", "intervention"), each = nf / 2),
                  b = rnorm(nf, 0, 0.6))
cnt <- merge(fam, data.frame(wave = 0:2))
cnt$months <- round(runif(nrow(cnt), 1, 6), 1)
eta <- log(0.8) + log(cnt$months) - 0.15 * cnt$wave - 0.35 * (cnt$arm == "intervention") * (cnt$wave > 0) + cnt$b
cnt$visits <- rpois(nrow(cnt), exp(eta))
cnt$b <- NULL
cnt$post <- as.integer(cnt$wave > 0)
cnt$treated <- as.integer(cnt$arm == "intervention") * cnt$post
cnt <- cnt[order(cnt$family, cnt$wave), ]
write.csv(cnt, "glmm_counts.csv", row.names = FALSE)

fitone <- function(name, csv, formula, data, family, nAGQ = 1, weights = NULL) {
  t0 <- proc.time()[["elapsed"]]
  if (is.null(weights)) {
    m <- glmer(as.formula(formula), data = data, family = family, nAGQ = nAGQ, control = ctrl)
    d <- glmer(as.formula(formula), data = data, family = family, nAGQ = nAGQ)
  } else {
    data$.w <- weights
    m <- glmer(as.formula(formula), data = data, family = family, nAGQ = nAGQ, control = ctrl, weights = .w)
    d <- glmer(as.formula(formula), data = data, family = family, nAGQ = nAGQ, weights = .w)
  }
  el <- proc.time()[["elapsed"]] - t0
  vc <- as.data.frame(VarCorr(m))
  vc <- vc[is.na(vc$var2), ]
  list(name = name, csv = csv, formula = formula, family = family$family, link = family$link, nAGQ = nAGQ,
       call = sprintf("glmer(%s, data = %s, family = %s(link = '%s'), nAGQ = %d)", formula, name,
                      family$family, family$link, nAGQ),
       fixef = as.list(fixef(m)), se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       variance = setNames(as.list(vc$vcov), ifelse(is.na(vc$var1) | vc$var1 == "(Intercept)", vc$grp, paste(vc$grp, vc$var1, sep = "."))),
       theta = as.numeric(getME(m, "theta")), logLik = as.numeric(logLik(m)), deviance = deviance(m),
       logLik_full = as.numeric(logLik(m)) - if (nAGQ > 1) 0.5 * (m@resp$aic() - sum(m@resp$devResid())) else 0,
       default = list(fixef = as.list(fixef(d)), logLik = as.numeric(logLik(d))),
       seconds = el)
}
models <- list(
  fitone("cbpp_laplace", "glmm_cbpp.csv", "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp2, binomial()),
  fitone("cbpp_agq25", "glmm_cbpp.csv", "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp2, binomial(), 25),
  fitone("cbpp_prop_weights", "glmm_cbpp.csv", "incidence / size ~ period + (1 | herd)", cbpp2, binomial(), 1, cbpp2$size),
  fitone("verbagg_crossed", "glmm_verbagg.csv", "y ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", va, binomial()),
  fitone("verbagg_agq12", "glmm_verbagg.csv", "y ~ Anger + Gender + btype + situ + (1 | id)", va, binomial(), 12),
  fitone("cbpp_probit", "glmm_cbpp.csv", "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp2, binomial(link = "probit")),
  fitone("grouseticks_nested", "glmm_grouseticks.csv", "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", gt, poisson()),
  fitone("counts_offset", "glmm_counts.csv", "visits ~ wave + treated + offset(log(months)) + (1 | family)", cnt, poisson()),
  fitone("counts_offset_agq9", "glmm_counts.csv", "visits ~ wave + treated + offset(log(months)) + (1 | family)", cnt, poisson(), 9),
  fitone("counts_slope", "glmm_counts.csv", "visits ~ wave + treated + offset(log(months)) + (1 + wave | family)", cnt, poisson())
)
names(models) <- sapply(models, `[[`, "name")
writeLines(toJSON(list(lme4 = as.character(packageVersion("lme4")), R = R.version.string, models = models),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE), "glmm_reference.json")
