# metafor_more_reference.R -- permutest, anova (Wald contrasts and LRT), profile of tau^2, blup and vif
# for rma.uni, metafor 3.8-1, on dat.raudenbush1985 and dat.baskerville2012 (datasets metafor ships).
#   Rscript metafor_more_reference.R metafor_more_reference.json
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "metafor_more_reference.json"
TIGHT <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
r <- dat.raudenbush1985
b <- dat.baskerville2012
un <- function(x) unname(as.numeric(x))
perm <- function(p) list(pval = un(p$pval), QMp = p$QMp, iter = p$exact.iter)

full <- rma(yi, vi, mods = ~ weeks + setting + tester, data = r, control = TIGHT)
int9 <- rma(yi, vi, data = r[1:9, ], control = TIGHT)
reg7 <- rma(yi, vi, mods = ~ weeks, data = r[1:7, ], control = TIGHT)
p_int9 <- permutest(int9, exact = TRUE, progbar = FALSE)
p_reg7 <- permutest(reg7, exact = TRUE, progbar = FALSE)
p_full <- permutest(full, iter = 2000, progbar = FALSE, seed = 1234)

L <- rbind(c(0, 1, 0, 0), c(0, 0, 1, -1))
wald_X <- anova(full, X = L)
wald_btt <- anova(full, btt = 3:4)
f_ml <- rma(yi, vi, mods = ~ weeks + setting + tester, data = r, method = "ML", control = TIGHT)
r_ml <- rma(yi, vi, mods = ~ weeks, data = r, method = "ML", control = TIGHT)
lrt <- anova(f_ml, r_ml)

ri <- rma(yi, vi, data = r, control = TIGHT)
ri_ml <- rma(yi, vi, data = r, method = "ML", control = TIGHT)
pr <- profile(ri, xlim = c(0, 0.2), steps = 11, plot = FALSE, progbar = FALSE)
pr_ml <- profile(ri_ml, xlim = c(0, 0.2), steps = 11, plot = FALSE, progbar = FALSE)
bl <- blup(full)
bl_int <- blup(ri)

vb <- rma(smd, sei = se, mods = ~ blind + alloconc + itt + duration, data = b, control = TIGHT)
v1 <- vif(vb)
b$design <- factor(b$design)
vg <- rma(smd, sei = se, mods = ~ design + blind + duration + fumonths, data = b, control = TIGHT)
v2 <- vif(vg, btt = 2:3)

out <- list(
  versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor"))),
  raudenbush1985 = list(yi = r$yi, vi = r$vi, weeks = r$weeks, setting = r$setting, tester = r$tester),
  baskerville2012 = list(smd = b$smd, se = b$se, blind = b$blind, alloconc = b$alloconc, itt = b$itt,
                         duration = b$duration, fumonths = b$fumonths, design = as.character(b$design)),
  permutest = list(
    int9 = c(list(call = "permutest(rma(yi, vi, data = dat.raudenbush1985[1:9, ]), exact = TRUE)"), perm(p_int9)),
    reg7 = c(list(call = "permutest(rma(yi, vi, mods = ~ weeks, data = dat.raudenbush1985[1:7, ]), exact = TRUE)"), perm(p_reg7)),
    full = c(list(call = "permutest(rma(yi, vi, mods = ~ weeks + setting + tester, data = dat.raudenbush1985), iter = 2000, seed = 1234)"),
             perm(p_full), list(pval_z = un(full$pval), QMp_z = full$QMp))),
  anova = list(
    wald_X = list(call = "anova(rma(yi, vi, mods = ~ weeks + setting + tester), X = rbind(c(0,1,0,0), c(0,0,1,-1)))",
                  L = L, Xb = un(wald_X$Xb), se = un(wald_X$se), zval = un(wald_X$zval),
                  pval = un(wald_X$pval), QM = wald_X$QM, QMdf = un(wald_X$QMdf), QMp = wald_X$QMp),
    wald_btt = list(call = "anova(rma(yi, vi, mods = ~ weeks + setting + tester), btt = 3:4)",
                    QM = wald_btt$QM, QMdf = un(wald_btt$QMdf), QMp = wald_btt$QMp),
    lrt = list(call = "anova(rma(..., mods = ~ weeks + setting + tester, method = 'ML'), rma(..., mods = ~ weeks, method = 'ML'))",
               LRT = lrt$LRT, pval = lrt$pval, df = lrt$parms.f - lrt$parms.r,
               ll_f = un(lrt$fit.stats.f["ll"]), ll_r = un(lrt$fit.stats.r["ll"]),
               AIC_f = un(lrt$fit.stats.f["AIC"]), AIC_r = un(lrt$fit.stats.r["AIC"]),
               BIC_f = un(lrt$fit.stats.f["BIC"]), BIC_r = un(lrt$fit.stats.r["BIC"]),
               QE_f = lrt$QE.f, QE_r = lrt$QE.r, tau2_f = lrt$tau2.f, tau2_r = lrt$tau2.r, R2 = lrt$R2)),
  profile = list(call = "profile(rma(yi, vi, data = dat.raudenbush1985), xlim = c(0, 0.2), steps = 11)",
                 tau2 = un(pr$tau2), ll = un(pr$ll), ll_ml = un(pr_ml$ll), max_reml = logLik(ri)[1], max_ml = logLik(ri_ml)[1]),
  blup = list(call = "blup(rma(yi, vi, mods = ~ weeks + setting + tester, data = dat.raudenbush1985))",
              pred = un(bl$pred), se = un(bl$se), pi_lb = un(bl$pi.lb), pi_ub = un(bl$pi.ub),
              int_pred = un(bl_int$pred), int_se = un(bl_int$se), int_pi_lb = un(bl_int$pi.lb), int_pi_ub = un(bl_int$pi.ub)),
  vif = list(call = "vif(rma(smd, sei = se, mods = ~ blind + alloconc + itt + duration, data = dat.baskerville2012))",
             vif = un(v1$vifs), sif = un(sapply(v1$vif, function(d) d$sif)),
             gvif_call = "vif(rma(smd, sei = se, mods = ~ factor(design) + blind + duration + fumonths), btt = 2:3)",
             gvif = un(v2$vifs), gsif = v2$vif[[1]]$sif, m = v2$vif[[1]]$m))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, matrix = "rowmajor"), out_file)
