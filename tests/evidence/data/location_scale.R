# location_scale.R: metafor 3.8-1 reference values for attunement.evidence's location-scale
# models, rma(yi, vi, mods = ~ x, scale = ~ z) (Viechtbauer & Lopez-Lopez 2022, Res Synth
# Methods 13:697-715), on data sets the other evidence tests do not use (dat.bangertdrowns2004,
# dat.pagliaro1992) and on dat.bcg for the docstring example.
# Usage: Rscript location_scale.R location_scale.json   (needs metafor and jsonlite)
#
# metafor's default optimiser (nlminb) stops 1e-7 to 5e-5 (relative) short of the optimum on
# these flat likelihoods and cannot be tightened (rel.tol below 1e-11 ends in "false
# convergence"; optimizer = "nlm" with gradtol = 1e-12 stops with a gradient of 1e-5). So each
# default fit is polished by Newton steps on metafor's own profile likelihood
# (metafor:::.ll.rma.ls, derivatives by numDeriv) until the gradient is below 1e-11, and the
# model is refitted from there (control = list(alpha.init = ...)): every saved number is
# metafor's, at the optimum (the gradient there is saved as "gradient"). The default fit is
# saved too ("default"). metafor takes the Hessian of the scale part numerically (numDeriv,
# Richardson extrapolation) with steps relative to each coefficient by default, which loses
# ~1e-5 (relative) on the standard errors when a coefficient is near 0; the polished fits use
# absolute steps instead (hessianCtrl = HCTRL below: 0.01 halved 8 times), as does the
# polishing.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "location_scale.json"
res <- list(about = list(metafor = as.character(packageVersion("metafor")),
                         R = R.version.string,
                         control = paste("default, then alpha.init = Newton-polished optimum",
                                         "and hessianCtrl = HCTRL")))

HCTRL <- list(r = 8, d = 0, eps = 1e-2, zero.tol = Inf)
nll <- function(a, r) metafor:::.ll.rma.ls(a, yi = r$yi, vi = r$vi, X = r$X, Z = r$Z,
  reml = r$method == "REML", k = r$k, pX = r$p, alpha.val = rep(NA, r$q), beta.val = NULL,
  verbose = FALSE, digits = r$digits, REMLf = TRUE, link = "log", mZ = NULL,
  alpha.min = rep(-Inf, r$q), alpha.max = rep(Inf, r$q), alpha.transf = FALSE,
  tau2.min = 0, tau2.max = Inf, optbeta = FALSE)
polish <- function(r) {
  a <- as.numeric(r$alpha)
  for (i in 1:20) {
    g <- numDeriv::grad(nll, a, r = r, method.args = HCTRL)
    if (max(abs(g)) < 1e-11) break
    a <- a - solve(numDeriv::hessian(nll, a, r = r, method.args = HCTRL), g)
  }
  a
}

bd <- dat.bangertdrowns2004
bd_len <- bd[!is.na(bd$length), ]   # two studies without 'length'
pag <- escalc("PLO", xi = xi, ni = ni, data = dat.pagliaro1992)
pag$trt <- as.character(pag$trt)
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
res$data <- list(
  bangertdrowns2004 = list(yi = as.numeric(bd$yi), vi = as.numeric(bd$vi), ni = bd$ni,
                           length = bd$length, grade = bd$grade),
  pagliaro1992_PLO = list(yi = as.numeric(pag$yi), vi = as.numeric(pag$vi), trt = pag$trt))

fit_both <- function(call, expr_fun) {
  d <- expr_fun(list())
  r <- expr_fun(list(alpha.init = polish(d), hessianCtrl = HCTRL))
  fs <- r$fit.stats
  list(call = call, method = r$method, test = r$test, k = r$k,
       coef_names = rownames(r$beta), alpha_names = rownames(r$alpha),
       beta = as.numeric(r$beta), se = r$se, zval = r$zval, pval = r$pval,
       ci_lb = r$ci.lb, ci_ub = r$ci.ub, vb = unname(as.matrix(r$vb)),
       QM = r$QM, QMdf = r$QMdf, QMp = r$QMp, s2w = r$s2w,
       alpha = as.numeric(r$alpha), se_alpha = r$se.alpha, zval_alpha = r$zval.alpha,
       pval_alpha = r$pval.alpha, ci_lb_alpha = r$ci.lb.alpha, ci_ub_alpha = r$ci.ub.alpha,
       va = unname(as.matrix(r$va)), QS = r$QS, QSdf = r$QSdf, QSp = r$QSp,
       gradient = numDeriv::grad(nll, as.numeric(r$alpha), r = r, method.args = HCTRL),
       tau2 = r$tau2, I2 = r$I2, H2 = r$H2, QE = r$QE, QEp = r$QEp,
       fit_stats = list(ML = as.list(setNames(fs[, "ML"], rownames(fs))),
                        REML = as.list(setNames(fs[, "REML"], rownames(fs)))),
       default = list(beta = as.numeric(d$beta), se = d$se, alpha = as.numeric(d$alpha),
                      se_alpha = d$se.alpha,
                      logLik = d$fit.stats["ll", ifelse(d$method == "ML", "ML", "REML")]))
}

res$bd_scale_ni <- fit_both("rma(yi, vi, scale = ~ ni, data = dat.bangertdrowns2004)",
  function(ctrl) rma(yi, vi, scale = ~ ni, data = bd, control = ctrl))
res$bd_length_ni_REML <- fit_both(
  "rma(yi, vi, mods = ~ length, scale = ~ ni, data = dat.bangertdrowns2004) (complete length)",
  function(ctrl) rma(yi, vi, mods = ~ length, scale = ~ ni, data = bd_len, control = ctrl))
res$bd_length_ni_ML <- fit_both(
  "rma(yi, vi, mods = ~ length, scale = ~ ni, method = 'ML', data = dat.bangertdrowns2004)",
  function(ctrl) rma(yi, vi, mods = ~ length, scale = ~ ni, method = "ML", data = bd_len,
                     control = ctrl))
res$bd_length_ni_knha <- fit_both(
  "rma(yi, vi, mods = ~ length, scale = ~ ni, test = 'knha', data = dat.bangertdrowns2004)",
  function(ctrl) rma(yi, vi, mods = ~ length, scale = ~ ni, test = "knha", data = bd_len,
                     control = ctrl))
res$bd_grade_t <- fit_both(
  "rma(yi, vi, scale = ~ factor(grade), test = 't', data = dat.bangertdrowns2004)",
  function(ctrl) rma(yi, vi, scale = ~ factor(grade), test = "t", data = bd, control = ctrl))
res$pag_trt <- fit_both(
  "rma(yi, vi, mods = ~ trt, scale = ~ trt, data = escalc('PLO', xi, ni, data = dat.pagliaro1992))",
  function(ctrl) rma(yi, vi, mods = ~ trt, scale = ~ trt, data = pag, control = ctrl))
res$bcg_ablat <- fit_both("rma(yi, vi, scale = ~ ablat, data = escalc('RR', dat.bcg))",
  function(ctrl) rma(yi, vi, scale = ~ ablat, data = bcg, control = ctrl))

writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, null = "null", na = "null",
                  pretty = TRUE), out)
