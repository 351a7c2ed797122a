# rmamv_reference.R -- multivariate / multilevel meta-analysis: metafor 3.8-1 rma.mv() (REML and ML,
# random = ~ 1 | a/b, several terms in a list, ~ inner | outer with struct CS, HCS, UN, AR, ID,
# test = "t" with the default dfs = "residual"), robust() on rma.mv (CR1, and clubSandwich 0.5.8 CR2)
# and vcalc() (constant correlation and AR).  Optimiser tightened so the optimum is compared.
#   Rscript rmamv_reference.R rmamv_reference.json
suppressPackageStartupMessages({library(metafor); library(clubSandwich); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "rmamv_reference.json"
# fit with the tightened control; where nlminb stops short at that tolerance, loosen it step by step
mv <- function(cl) {
  for (tol in c(1e-12, 1e-10, 1e-8)) {
    cl$control <- list(rel.tol = tol, iter.max = 10000, eval.max = 10000)
    r <- tryCatch(eval(cl, parent.frame()), error = function(e) NULL)
    if (!is.null(r)) { r$rel_tol <- tol; return(r) }
  }
  cl$control <- NULL
  eval(cl, parent.frame())
}
num <- function(x) if (is.null(x)) NULL else as.numeric(x)
fitout <- function(call, r) list(
  call = call, rel_tol = r$rel_tol, method = r$method, test = r$test, k = r$k, p = r$p, parms = r$parms,
  coef_names = rownames(r$beta), beta = num(r$beta), se = num(r$se), zval = num(r$zval),
  pval = num(r$pval), ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub), ddf = num(r$ddf),
  vb = unname(as.matrix(r$vb)), sigma2 = num(r$sigma2), s_names = r$s.names,
  tau2 = num(r$tau2), rho = num(r$rho), gamma2 = num(r$gamma2), phi = num(r$phi),
  QE = r$QE, QEp = r$QEp, QM = r$QM, QMp = r$QMp, QMdf = num(r$QMdf),
  fit_stats = list(ML = num(r$fit.stats$ML), REML = num(r$fit.stats$REML)),
  printed = paste(capture.output(print(r)), collapse = "\n"))
take <- function(r) list(
  beta = num(r$beta), se = num(r$se), tval = num(r$zval), df = num(r$ddf), pval = num(r$pval),
  ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub), vb = unname(as.matrix(r$vb)), QM = r$QM,
  QMdf = num(r$QMdf), QMp = r$QMp, n = r$n, vbest = r$vbest)
rob <- function(fit, cluster) list(CR1 = take(robust(fit, cluster = cluster)),
                                   CR0 = take(robust(fit, cluster = cluster, adjust = FALSE)),
                                   CR2 = take(robust(fit, cluster = cluster, clubSandwich = TRUE)))

out <- list(versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                            clubSandwich = as.character(packageVersion("clubSandwich"))))

## konstantopoulos2011: schools in districts
k <- dat.konstantopoulos2011
out$konstantopoulos2011 <- list(data = list(district = k$district, school = k$school, study = k$study,
                                            year = k$year, yi = k$yi, vi = k$vi))
f <- list()
for (m in c("REML", "ML"))
  f[[paste0("three_level_", m)]] <- fitout(
    sprintf("rma.mv(yi, vi, random = ~ 1 | district/school, data = dat.konstantopoulos2011, method = '%s')", m),
    mv(quote(rma.mv(yi, vi, random = ~ 1 | district/school, data = k, method = m))))
f$year_t <- fitout("rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district/school, data = dat.konstantopoulos2011, test = 't')",
                   mv(quote(rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district/school, data = k, test = "t"))))
f$list_terms <- fitout("rma.mv(yi, vi, random = list(~ 1 | district, ~ 1 | study), data = dat.konstantopoulos2011)",
                       mv(quote(rma.mv(yi, vi, random = list(~ 1 | district, ~ 1 | study), data = k))))
# three districts whose between-district variance is estimated at the boundary (0)
f$boundary_56_58_108 <- fitout("rma.mv(yi, vi, random = ~ 1 | district/school, data = dat.konstantopoulos2011, subset = district %in% c(56, 58, 108))",
                               mv(quote(rma.mv(yi, vi, random = ~ 1 | district/school, data = k[k$district %in% c(56, 58, 108), ]))))
# one district: metafor fixes its sigma2 at 0 (single-level factor) and warns
f$one_district_644 <- fitout("rma.mv(yi, vi, random = ~ 1 | district/school, data = dat.konstantopoulos2011, subset = district == 644)",
                             suppressWarnings(mv(quote(rma.mv(yi, vi, random = ~ 1 | district/school, data = k[k$district == 644, ])))))
out$konstantopoulos2011$fits <- f

## berkey1998: two correlated outcomes per trial, V from the covariance columns, struct UN
b <- dat.berkey1998
V <- bldiag(lapply(split(b[c("v1i", "v2i")], b$trial), as.matrix))
out$berkey1998 <- list(data = list(trial = b$trial, outcome = as.character(b$outcome), year = b$year,
                                   yi = b$yi, vi = b$vi, v1i = b$v1i, v2i = b$v2i), V = unname(V))
f <- list()
for (m in c("REML", "ML"))
  f[[paste0("UN_", m)]] <- fitout(
    sprintf("rma.mv(yi, V, mods = ~ outcome - 1, random = ~ outcome | trial, struct = 'UN', data = dat.berkey1998, method = '%s')", m),
    mv(quote(rma.mv(yi, V, mods = ~ outcome - 1, random = ~ outcome | trial, struct = "UN", data = b, method = m))))
f$UN_year <- fitout("rma.mv(yi, V, mods = ~ outcome + outcome:I(year - 1983) - 1, random = ~ outcome | trial, struct = 'UN', data = dat.berkey1998)",
                    mv(quote(rma.mv(yi, V, mods = ~ outcome + outcome:I(year - 1983) - 1, random = ~ outcome | trial, struct = "UN", data = b))))
f$CS_contrast <- fitout("rma.mv(yi, V, mods = ~ outcome, random = ~ outcome | trial, struct = 'CS', data = dat.berkey1998)",
                        mv(quote(rma.mv(yi, V, mods = ~ outcome, random = ~ outcome | trial, struct = "CS", data = b))))
out$berkey1998$fits <- f

## assink2016: effect sizes in studies (three-level), robust CR1/CR2, vcalc with rho = 0.6
a <- dat.assink2016
out$assink2016 <- list(data = list(study = a$study, esid = a$esid, id = a$id, yi = a$yi, vi = a$vi,
                                   deltype = as.character(a$deltype), year = a$year, pubstatus = a$pubstatus))
f <- list()
r1 <- mv(quote(rma.mv(yi, vi, random = ~ 1 | study/esid, data = a)))
f$three_level <- c(fitout("rma.mv(yi, vi, random = ~ 1 | study/esid, data = dat.assink2016)", r1), rob(r1, a$study))
r2 <- mv(quote(rma.mv(yi, vi, mods = ~ deltype, random = ~ 1 | study/esid, data = a)))
f$deltype <- c(fitout("rma.mv(yi, vi, mods = ~ deltype, random = ~ 1 | study/esid, data = dat.assink2016)", r2), rob(r2, a$study))
Va <- vcalc(vi, cluster = study, obs = esid, rho = 0.6, data = a)
out$assink2016$vcalc_rho06 <- unname(Va)
r3 <- mv(quote(rma.mv(yi, Va, mods = ~ deltype, random = ~ 1 | study/esid, data = a)))
f$vcalc_deltype <- c(fitout("rma.mv(yi, vcalc(vi, cluster = study, obs = esid, rho = 0.6), mods = ~ deltype, random = ~ 1 | study/esid, data = dat.assink2016)", r3), rob(r3, a$study))
f$study_plus_deltype_ID <- fitout("rma.mv(yi, vi, random = list(~ 1 | study, ~ deltype | study), struct = 'ID', data = dat.assink2016)",
                                  mv(quote(rma.mv(yi, vi, random = list(~ 1 | study, ~ deltype | study), struct = "ID", data = a))))
f$deltype_DIAG <- fitout("rma.mv(yi, vi, random = ~ deltype | study, struct = 'DIAG', data = dat.assink2016)",
                         mv(quote(rma.mv(yi, vi, random = ~ deltype | study, struct = "DIAG", data = a))))
out$assink2016$fits <- f

## ishak2007: deep-brain stimulation, up to four time points per study: CS, HCS, AR, ID over time
d <- reshape(dat.ishak2007, direction = "long", idvar = "study", v.names = c("yi", "vi"),
             varying = list(c(2, 4, 6, 8), c(3, 5, 7, 9)))
d <- d[order(d$study, d$time), ]
d <- d[!is.na(d$yi), ]
rownames(d) <- NULL
out$ishak2007 <- list(data = list(study = d$study, time = d$time, yi = d$yi, vi = d$vi, mdur = d$mdur))
f <- list()
for (s in c("CS", "HCS", "AR", "ID", "UN"))
  f[[s]] <- fitout(sprintf("rma.mv(yi, vi, mods = ~ factor(time) - 1, random = ~ time | study, struct = '%s', data = long)", s),
                   mv(quote(rma.mv(yi, vi, mods = ~ factor(time) - 1, random = ~ time | study, struct = s, data = d))))
f$AR_ML <- fitout("rma.mv(yi, vi, mods = ~ factor(time) - 1, random = ~ time | study, struct = 'AR', data = long, method = 'ML')",
                  mv(quote(rma.mv(yi, vi, mods = ~ factor(time) - 1, random = ~ time | study, struct = "AR", data = d, method = "ML"))))
Vd <- vcalc(vi, cluster = study, time1 = time, phi = 0.97, data = d)
out$ishak2007$vcalc_phi097 <- unname(Vd)
r4 <- mv(quote(rma.mv(yi, Vd, mods = ~ factor(time) - 1, random = ~ time | study, struct = "AR", data = d)))
f$vcalc_AR <- c(fitout("rma.mv(yi, vcalc(vi, cluster = study, time1 = time, phi = 0.97), mods = ~ factor(time) - 1, random = ~ time | study, struct = 'AR', data = long)", r4),
                rob(r4, d$study))
out$ishak2007$fits <- f

## knapp2017: vcalc with obs and type (constant correlations)
kn <- dat.knapp2017
Vk <- vcalc(vi, cluster = study, obs = comp, type = task, rho = c(0.5, 0.3), data = kn)
out$knapp2017 <- list(data = list(study = kn$study, task = as.character(kn$task), comp = kn$comp, vi = kn$vi),
                      vcalc_obs_type = unname(Vk))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, matrix = "rowmajor", na = "null"), out_file)
